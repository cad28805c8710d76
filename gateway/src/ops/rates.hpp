// Rate meters over a sliding window, a PUBACK latency recorder (p50/p99/max of the last N) and
// the estimated time to drain the queue. rate_meter is not thread-safe (one owner feeds and
// reads it); latency_recorder is thread-safe (record() from the uplink thread, summary() from
// anywhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
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

struct latency_summary {
    std::uint64_t count = 0;  // everything ever recorded
    double sum = 0;           // seconds, everything ever recorded
    // Over the last `window` recordings; empty when nothing was recorded yet.
    std::optional<double> p50;
    std::optional<double> p99;
    std::optional<double> max;

    bool operator==(const latency_summary&) const = default;
};

// Nearest-rank quantile: the smallest recorded value v such that at least q of the values
// are <= v. `sorted` must be in ascending order; std::nullopt when it is empty.
std::optional<double> nearest_rank(const std::vector<double>& sorted, double q);

class latency_recorder final {
  public:
    explicit latency_recorder(std::size_t window = 1024);

    // O(1) under a mutex held for a few stores. Negative or NaN values are ignored.
    void record(double seconds);
    // Copies the window under the mutex and sorts it outside.
    latency_summary summary() const;

  private:
    mutable std::mutex mutex_;
    std::vector<double> ring_;
    std::size_t next_ = 0;
    std::size_t filled_ = 0;
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

// Queue depth divided by the net drain rate (out_rate - in_rate, readings per second).
// 0 for an empty queue; std::nullopt when a rate is unknown or the queue is not shrinking.
std::optional<double> estimate_drain_seconds(std::size_t depth, std::optional<double> in_rate,
                                             std::optional<double> out_rate);

}  // namespace fogbridge
