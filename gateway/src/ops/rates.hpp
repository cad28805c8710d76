// Rate meters over a sliding window and the estimated time to drain the queue. rate_meter is not
// thread-safe (one owner feeds and reads it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace fogbridge {

struct rate_settings {
    double window = 60;             // seconds of history the rate is computed over
    std::size_t max_samples = 600;  // bound on memory if fed more often than expected
};

// Per-second rate of a monotonically increasing counter, from (time, value) samples.
class rate_meter final {
  public:
    explicit rate_meter(rate_settings settings = {});

    // `now` in seconds (any clock, consistently). A counter that went down (restart) or a time
    // that went back starts the history afresh from this sample.
    void add(double now, std::uint64_t counter);
    // Increase per second between the oldest sample within the window and the newest;
    // std::nullopt until two samples at different times are held.
    std::optional<double> rate() const;

  private:
    struct point {
        double t;
        std::uint64_t value;
    };
    rate_settings settings_;
    std::deque<point> points_;
};

// Queue depth divided by the net drain rate (out_rate - in_rate, readings per second).
// 0 for an empty queue; std::nullopt when a rate is unknown or the queue is not shrinking.
std::optional<double> estimate_drain_seconds(std::size_t depth, std::optional<double> in_rate,
                                             std::optional<double> out_rate);

}  // namespace fogbridge
