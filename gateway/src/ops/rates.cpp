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

std::optional<double> estimate_drain_seconds(std::size_t depth, std::optional<double> in_rate,
                                             std::optional<double> out_rate) {
    if (depth == 0) return 0.0;
    if (!in_rate || !out_rate) return std::nullopt;
    const double net = *out_rate - *in_rate;
    if (!(net > 0)) return std::nullopt;
    return static_cast<double>(depth) / net;
}

}  // namespace fogbridge
