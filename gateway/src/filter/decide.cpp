#include "filter/decide.hpp"

#include <cmath>

namespace fogbridge {
namespace {

// About 700 ulp at today's epoch seconds (0.2 ms), far below any interval worth configuring.
constexpr double ts_rel_eps = 1e-13;

bool is_gap(const series_state& state, const filter_rule& rule, const reading& r) {
    if (r.ts < state.last_received_ts) {
        return true;  // the device clock went back
    }
    if (rule.heartbeat <= 0) {
        return false;
    }
    return exceeded(r.ts - state.last_received_ts, rule.heartbeat, r.ts);
}

// r is kept and starts the series afresh.
void restart_at(series_state& state, const reading& r) {
    state.anchor_ts = r.ts;
    state.anchor_value = r.value;
    state.forwarded_ts = r.ts;
    state.door = door_state{};
}

}  // namespace

std::string_view to_string(filter_decision decision) {
    switch (decision) {
        case filter_decision::keep_first:
            return "keep_first";
        case filter_decision::keep_change:
            return "keep_change";
        case filter_decision::keep_heartbeat:
            return "keep_heartbeat";
        case filter_decision::keep_gap:
            return "keep_gap";
        case filter_decision::drop:
            return "drop";
    }
    return "unknown";
}

bool reached(double elapsed, double limit, double ts) {
    return elapsed >= limit - ts_rel_eps * std::fabs(ts);
}

bool exceeded(double elapsed, double limit, double ts) {
    return elapsed > limit + ts_rel_eps * std::fabs(ts);
}

step_result start_series(series_state& state, const reading& r) {
    state = series_state{};
    state.last_received_ts = r.ts;
    restart_at(state, r);
    step_result out;
    out.decision = filter_decision::keep_first;
    return out;
}

step_result decide(series_state& state, const filter_rule& rule, const reading& r) {
    step_result out;
    if (is_gap(state, rule, r)) {
        // The held readings end the segment before the gap; the new reading starts afresh.
        out = flush_held(state, rule);
        restart_at(state, r);
        out.decision = filter_decision::keep_gap;
    } else if (rule.mode == filter_mode::swinging_door) {
        out = door_step(state, rule, r);
    } else {
        // A segment left open by a swinging-door rule before a reload is closed first.
        step_result closed = flush_held(state, rule);
        out = deadband_step(state, rule, r);
        out.emit = std::move(closed.emit);
        out.held_dropped = closed.held_dropped;
    }
    state.last_received_ts = r.ts;
    return out;
}

}  // namespace fogbridge
