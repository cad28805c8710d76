// A PUBACK latency recorder (p50/p99/max of the last N). Thread-safe: record() from the uplink
// thread, summary() from anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace fogbridge {

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

}  // namespace fogbridge
