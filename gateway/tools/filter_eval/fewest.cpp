#include "filter_eval/fewest.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace fogbridge {
namespace {

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

// Generous by rounding, so the count stays a true lower bound.
double tolerance(double bound, double a, double b) {
    return bound + 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

bool heartbeat_due(double since, double heartbeat) {
    return heartbeat > 0 && since >= heartbeat * (1 - 1e-12);
}

// The rule a series is rebuilt under: how, within what bound, with what heartbeat (0: none).
struct rebuild_rule {
    reconstruct_mode mode;
    double bound;
    double heartbeat;
};

// Calls `end(j)` for every j that can be the kept point after i (every reading between them
// within the bound of the rebuilt series). Returns whether i can be the last kept point (every
// later reading within the bound of its value, and none due for a heartbeat).
template <typename End>
bool segments_from(std::span<const series_point> s, std::size_t i, const rebuild_rule& rule,
                   const End& end) {
    const auto [mode, bound, heartbeat] = rule;
    const series_point a = s[i];
    const bool linear = mode == reconstruct_mode::linear;
    double lo = -std::numeric_limits<double>::infinity();  // slopes from a that pass within the
    double hi = std::numeric_limits<double>::infinity();   // bound of the readings between
    bool flat = true;  // every reading after i so far is within the bound of a's value
    for (std::size_t j = i + 1; j < s.size(); ++j) {
        const double dt = s[j].ts - a.ts;
        const double slack = tolerance(0, s[j].value, a.value) / dt;
        const double slope = (s[j].value - a.value) / dt;
        if (linear ? slope >= lo - slack && slope <= hi + slack : flat) {
            end(j);
        }
        if (heartbeat_due(dt, heartbeat)) {
            return false;  // no segment from i goes past j, and j must be kept
        }
        flat = flat && std::fabs(s[j].value - a.value) <= tolerance(bound, s[j].value, a.value);
        lo = std::max(lo, (s[j].value - a.value - bound) / dt);
        hi = std::min(hi, (s[j].value - a.value + bound) / dt);
        const bool more_ends = linear ? lo <= hi + slack : flat;
        if (!more_ends && !flat) {
            return false;
        }
    }
    return flat;
}

}  // namespace

std::optional<std::size_t> fewest_kept(std::span<const series_point> s, reconstruct_mode mode,
                                       double bound, double heartbeat) {
    if (s.empty()) {
        return std::nullopt;
    }
    for (std::size_t i = 1; i < s.size(); ++i) {
        if (!(s[i].ts > s[i - 1].ts)) {
            return std::nullopt;
        }
    }
    const rebuild_rule rule{.mode = mode, .bound = bound, .heartbeat = heartbeat};
    std::vector<std::size_t> fewest(s.size(), none);  // kept points up to and including i
    fewest[0] = 1;
    std::size_t best = none;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (fewest[i] == none) {
            continue;
        }
        const std::size_t next = fewest[i] + 1;
        const bool can_end = segments_from(
            s, i, rule, [&](std::size_t j) { fewest[j] = std::min(fewest[j], next); });
        if (can_end) {
            best = std::min(best, fewest[i]);
        }
    }
    return best == none ? std::nullopt : std::optional<std::size_t>(best);
}

}  // namespace fogbridge
