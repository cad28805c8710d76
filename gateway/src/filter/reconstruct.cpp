#include "filter/reconstruct.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace fogbridge {

reconstruct_mode reconstruct_mode_for(filter_mode mode) {
    return mode == filter_mode::swinging_door ? reconstruct_mode::linear
                                              : reconstruct_mode::step_hold;
}

std::optional<double> reconstruct_at(std::span<const series_point> kept, double ts,
                                     reconstruct_mode mode) {
    const auto after = std::upper_bound(kept.begin(), kept.end(), ts,
                                        [](double t, const series_point& p) { return t < p.ts; });
    if (after == kept.begin()) {
        return std::nullopt;
    }
    const series_point& left = *std::prev(after);
    if (mode == reconstruct_mode::step_hold || after == kept.end()) {
        return left.value;
    }
    const series_point& right = *after;  // right.ts > ts >= left.ts, so the span is not empty
    const double fraction = (ts - left.ts) / (right.ts - left.ts);
    return left.value + fraction * (right.value - left.value);
}

reconstruction_error measure_reconstruction(const reconstruction_input& in, reconstruct_mode mode) {
    const auto [kept, original] = in;
    std::vector<series_point> sorted(kept.begin(), kept.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const series_point& a, const series_point& b) { return a.ts < b.ts; });
    reconstruction_error out;
    double sum_squares = 0;
    for (const auto& p : original) {
        const auto rebuilt = reconstruct_at(sorted, p.ts, mode);
        if (!rebuilt) {
            ++out.uncovered;
            continue;
        }
        const double error = std::fabs(*rebuilt - p.value);
        out.max_abs = std::max(out.max_abs, error);
        sum_squares += error * error;
        ++out.compared;
    }
    if (out.compared > 0) {
        out.rms = std::sqrt(sum_squares / static_cast<double>(out.compared));
    }
    return out;
}

}  // namespace fogbridge
