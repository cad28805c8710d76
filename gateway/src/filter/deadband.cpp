// Deadband mode: compare with the last forwarded value; no reading is ever held.
#include <algorithm>
#include <cmath>
#include <limits>

#include "filter/decide.hpp"

namespace fogbridge {
namespace {

// Forgives the rounding of `value - last` for decimal inputs (about 4500 ulp) while staying far
// below any deadband a user would set relative to the values; no absolute floor, so series in
// tiny units work.
constexpr double value_rel_eps = 1e-12;

}  // namespace

bool moved_enough(const filter_rule& rule, double last_forwarded, double value) {
    if (rule.deadband <= 0 && rule.deadband_pct <= 0) {
        return true;  // a pass-through rule
    }
    const double move = std::fabs(value - last_forwarded);
    if (move == 0) {
        return false;
    }
    // Either threshold suffices, so the smaller one decides; a percentage of 0 is 0.
    double threshold = std::numeric_limits<double>::infinity();
    if (rule.deadband > 0) {
        threshold = rule.deadband;
    }
    if (rule.deadband_pct > 0) {
        threshold = std::min(threshold, rule.deadband_pct / 100.0 * std::fabs(last_forwarded));
    }
    const double eps =
        value_rel_eps * std::max({std::fabs(value), std::fabs(last_forwarded), threshold});
    return move >= threshold - eps;
}

step_result deadband_step(series_state& state, const filter_rule& rule, const reading& r) {
    const double since = r.ts - state.anchor_ts;
    step_result out;
    if (moved_enough(rule, state.anchor_value, r.value) &&
        reached(since, rule.min_interval, r.ts)) {
        out.decision = filter_decision::keep_change;
    } else if (rule.heartbeat > 0 && reached(since, rule.heartbeat, r.ts)) {
        out.decision = filter_decision::keep_heartbeat;
    }
    if (out.decision != filter_decision::drop) {
        state.anchor_ts = r.ts;
        state.anchor_value = r.value;
        state.forwarded_ts = r.ts;
    }
    return out;
}

}  // namespace fogbridge
