// When to close the batch being filled, and how fast the backlog drains beside live batches: the
// trigger and pacing policy, pure (the caller passes the clock). Functions are thread-safe;
// replay_pacer is not.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace fogbridge {

struct batch_settings {
    std::size_t max_readings = 1000;       // close at this many readings
    std::size_t max_bytes = 256UL * 1024;  // or this many encoded bytes (sum of encoded_size)
    double max_delay = 1.0;                // or when the oldest reading waited this long, seconds
    double replay_rate = 0;       // backlog readings per second after an outage; 0 = unpaced
    std::string layout = "auto";  // "rows", "columnar"; config resolves "auto", read as rows here
};

// What waits for the batch being filled; named fields, so readings and bytes cannot trade places.
struct pending_batch {
    std::size_t readings = 0;
    std::size_t bytes = 0;         // sum of encoded_size
    std::optional<double> oldest;  // the enqueue time of the oldest reading not yet in a batch
};

// True when there is at least one reading and any trigger is reached (each one inclusive).
bool batch_due(const pending_batch& pending, double now, const batch_settings& settings);

// The time at which the delay trigger fires, for the caller's timer; nullopt when nothing waits.
std::optional<double> batch_deadline(std::optional<double> oldest_pending,
                                     const batch_settings& settings);

// How many of the window's slots live batches may fill while a backlog waits: all but a quarter
// (at least one), so that live traffic never starves the drain. The whole window otherwise.
std::size_t live_window(std::size_t window, bool backlog_waiting);

// Paces the backlog: about `rate` readings per second, in batches of about one second's worth
// (at least 1, at most max_readings), so that a slow drain trickles instead of bursting. A rate
// of 0 lets every batch go at once. Credit does not pile up beyond one batch while the window is
// full, so the drain never bursts above the rate either.
class replay_pacer final {
  public:
    // At settings.replay_rate, in batches of at most settings.max_readings.
    explicit replay_pacer(const batch_settings& settings);

    // Readings the next backlog batch may hold now; 0 = wait.
    std::size_t allowance(double now);
    // A backlog batch of `readings` went out.
    void spend(std::size_t readings);
    // A new connection: one batch may go at once.
    void restart(double now);

  private:
    double rate_;
    std::size_t quantum_;
    double credit_ = 0;
    std::optional<double> last_;
};

}  // namespace fogbridge
