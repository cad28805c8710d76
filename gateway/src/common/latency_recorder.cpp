#include "common/latency_recorder.hpp"

#include <algorithm>
#include <cmath>

namespace fogbridge {

std::optional<double> nearest_rank(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return std::nullopt;
    const auto n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(q * n));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

latency_recorder::latency_recorder(std::size_t window) : ring_(std::max<std::size_t>(window, 1)) {}

void latency_recorder::record(double seconds) {
    if (!(seconds >= 0) || std::isinf(seconds)) return;
    const std::lock_guard lock(mutex_);
    ring_[next_] = seconds;
    next_ = (next_ + 1) % ring_.size();
    filled_ = std::min(filled_ + 1, ring_.size());
    ++count_;
    sum_ += seconds;
}

latency_summary latency_recorder::summary() const {
    latency_summary out;
    std::vector<double> values;
    {
        const std::lock_guard lock(mutex_);
        out.count = count_;
        out.sum = sum_;
        values.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(filled_));
    }
    if (values.empty()) return out;
    std::sort(values.begin(), values.end());
    out.p50 = nearest_rank(values, 0.5);
    out.p99 = nearest_rank(values, 0.99);
    out.max = values.back();
    return out;
}

}  // namespace fogbridge
