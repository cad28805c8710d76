// Per-series state of the significant-change filter and its opaque JSON form. Plain data.
#pragma once

#include <limits>
#include <optional>
#include <string>

#include "common/reading.hpp"

namespace fogbridge {

// The open swinging-door segment: readings after the anchor that were not forwarded yet.
struct door_state {
    // The newest reading of the segment, not forwarded yet; it becomes a kept point when the
    // next reading cannot extend the segment.
    std::optional<reading> held;
    // Slopes from the anchor that stay within the deviation of every dropped reading strictly
    // between the anchor and `held`. Unbounded while nothing lies between.
    double slope_lo = -std::numeric_limits<double>::infinity();
    double slope_hi = std::numeric_limits<double>::infinity();

    bool operator==(const door_state&) const = default;
};

struct series_state {
    double last_received_ts = 0;
    double anchor_ts = 0;     // the last forwarded reading ...
    double anchor_value = 0;  // ... which is also the swinging door's pivot
    door_state door;

    bool operator==(const series_state&) const = default;
};

// Versioned JSON with doubles written exactly (shortest round-trip form).
std::string encode_series_state(const series_state& state);
// nullopt for anything malformed or inconsistent; `device` and `sensor` fill the held reading.
std::optional<series_state> decode_series_state(const std::string& text, const std::string& device,
                                                const std::string& sensor);

}  // namespace fogbridge
