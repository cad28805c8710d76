#include "ops/rates.hpp"

#include <algorithm>
#include <cmath>

namespace fogbridge {

rate_meter::rate_meter(rate_settings settings) : settings_(settings) {}

void rate_meter::add(double now, std::uint64_t counter) {
    if (!points_.empty() && (now < points_.back().t || counter < points_.back().value)) {
        points_.clear();
    }
    points_.push_back({now, counter});
    while (points_.size() > 2 &&
           (points_.front().t < now - settings_.window || points_.size() > settings_.max_samples)) {
        points_.pop_front();
    }
}

std::optional<double> rate_meter::rate() const {
    if (points_.size() < 2) return std::nullopt;
    const auto& first = points_.front();
    const auto& last = points_.back();
    if (last.t <= first.t) return std::nullopt;
    return static_cast<double>(last.value - first.value) / (last.t - first.t);
}

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

std::optional<double> estimate_drain_seconds(std::size_t depth, std::optional<double> in_rate,
                                             std::optional<double> out_rate) {
    if (depth == 0) return 0.0;
    if (!in_rate || !out_rate) return std::nullopt;
    const double net = *out_rate - *in_rate;
    if (!(net > 0)) return std::nullopt;
    return static_cast<double>(depth) / net;
}

}  // namespace fogbridge
