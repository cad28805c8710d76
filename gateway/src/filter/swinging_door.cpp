// Swinging-door mode: a greedy, end-point-exact variant of the swinging door (see
// significant_change_filter.hpp). Holds at most one reading per series.
#include <algorithm>
#include <cmath>
#include <limits>

#include "filter/decide.hpp"

namespace fogbridge {
namespace {

// Slack on slope comparisons, as a fraction of the values involved (cf. deadband.cpp).
constexpr double value_rel_eps = 1e-12;

struct slope_range {
    double lo;
    double hi;
};

constexpr slope_range unbounded{-std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::infinity()};

// r becomes the anchor of a new, empty segment.
void restart_at(series_state& state, const reading& r) {
    state.anchor_ts = r.ts;
    state.anchor_value = r.value;
    state.door = door_state{};
}

void keep(series_state& state, step_result& out, const reading& r, filter_decision decision) {
    restart_at(state, r);
    out.decision = decision;
}

void hold(series_state& state, step_result& out, const reading& r, slope_range range) {
    state.door = door_state{.held = r, .slope_lo = range.lo, .slope_hi = range.hi};
    out.now_held = true;
}

// A reading at the anchor's own timestamp: no line can be drawn, compare the values.
void at_anchor_time(series_state& state, const filter_rule& rule, step_result& out,
                    const reading& r) {
    const double e = rule.deviation;
    const double slack =
        value_rel_eps * std::max({std::fabs(r.value), std::fabs(state.anchor_value), e});
    if (std::fabs(r.value - state.anchor_value) > e + slack && rule.min_interval <= 0) {
        keep(state, out, r, filter_decision::keep_change);
    }
}

}  // namespace

step_result door_step(series_state& state, const filter_rule& rule, const reading& r) {
    step_result out;
    const double dt = r.ts - state.anchor_ts;
    if (dt <= 0) {  // nothing is held then: held readings lie after the anchor
        at_anchor_time(state, rule, out, r);
        return out;
    }
    const double e = rule.deviation;
    const bool heartbeat_due = rule.heartbeat > 0 && reached(dt, rule.heartbeat, r.ts);
    door_state& door = state.door;
    slope_range range{door.slope_lo, door.slope_hi};
    bool extends = true;
    if (door.held) {
        // The held reading would now lie between the anchor and r: add its constraint.
        const double held_dt = door.held->ts - state.anchor_ts;
        const double rise = door.held->value - state.anchor_value;
        range.lo = std::max(range.lo, (rise - e) / held_dt);
        range.hi = std::min(range.hi, (rise + e) / held_dt);
        const double slope = (r.value - state.anchor_value) / dt;
        const double slack =
            value_rel_eps * std::max({std::fabs(r.value), std::fabs(state.anchor_value), e}) / dt;
        extends = slope >= range.lo - slack && slope <= range.hi + slack;
    }

    if (extends) {
        out.held_dropped = door.held.has_value();
        if (heartbeat_due) {
            keep(state, out, r, filter_decision::keep_heartbeat);
        } else {
            hold(state, out, r, range);
        }
        return out;
    }

    // The line from the anchor to r would miss a dropped reading: the held one must be kept.
    reading held = std::move(*door.held);
    if (reached(held.ts - state.anchor_ts, rule.min_interval, held.ts)) {
        restart_at(state, held);
        out.emit = std::move(held);
        if (heartbeat_due) {
            keep(state, out, r, filter_decision::keep_heartbeat);
        } else if (r.ts <= state.anchor_ts) {
            at_anchor_time(state, rule, out, r);
        } else {
            hold(state, out, r, unbounded);
        }
        return out;
    }
    // min_interval forbids keeping the held reading: the rate cap wins over the bound. The
    // segment restarts at the old anchor and forgets the readings it dropped.
    out.held_dropped = true;
    if (reached(dt, rule.min_interval, r.ts)) {
        keep(state, out, r, filter_decision::keep_change);
    } else if (heartbeat_due) {
        keep(state, out, r, filter_decision::keep_heartbeat);
    } else {
        hold(state, out, r, unbounded);
    }
    return out;
}

}  // namespace fogbridge
