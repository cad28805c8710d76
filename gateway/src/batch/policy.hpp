// When to close the batch being filled: the trigger policy, pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>

namespace fogbridge {

struct batch_settings {
    std::size_t max_readings = 1000;     // close at this many readings
    std::size_t max_bytes = 256 * 1024;  // or this many encoded bytes (sum of encoded_size)
    double max_delay = 1.0;              // or when the oldest reading waited this long, seconds
};

// True when there is at least one reading and any trigger is reached (each one inclusive).
bool batch_due(std::size_t pending_readings, std::size_t pending_bytes,
               std::optional<double> oldest_enqueued, double now, const batch_settings& settings);

// The time at which the delay trigger fires, for the caller's timer; nullopt when nothing waits.
std::optional<double> batch_deadline(std::optional<double> oldest_enqueued,
                                     const batch_settings& settings);

}  // namespace fogbridge
