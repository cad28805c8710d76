// The filter's decision rules as pure functions on one series' state (see
// significant_change_filter.hpp for the semantics). No I/O, no clock; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/reading.hpp"
#include "filter/filter_settings.hpp"
#include "filter/series_state.hpp"

namespace fogbridge {

enum class filter_decision { keep_first, keep_change, keep_heartbeat, keep_gap, drop };

std::string_view to_string(filter_decision decision);

struct step_result {
    filter_decision decision = filter_decision::drop;
    std::vector<reading> emit;     // held readings now kept (changes), oldest first, sent first
    std::size_t held_dropped = 0;  // held readings now dropped for good
    bool now_held = false;         // decision is drop, but the reading is held, not yet settled
};

// The first reading of a series: kept, and it becomes the anchor.
step_result start_series(series_state& state, const reading& r);
// Every later reading.
step_result decide(series_state& state, const filter_rule& rule, const reading& r);
// Settles every held reading now (decision stays drop): under a swinging_door `rule` the best
// line's points are kept and the rest dropped; under any other rule (after a reload) every held
// reading is kept, since the deviation they were held under is no longer known.
step_result flush_held(series_state& state, const filter_rule& rule);

// The parts, exposed for tests.
bool moved_enough(const filter_rule& rule, double last_forwarded, double value);
// elapsed >= limit, forgiving the rounding of differences of epoch-sized timestamps.
bool reached(double elapsed, double limit, double ts);
// elapsed > limit, with the same forgiveness (so never both reached and exceeded at the limit).
bool exceeded(double elapsed, double limit, double ts);
step_result deadband_step(series_state& state, const filter_rule& rule, const reading& r);
step_result door_step(series_state& state, const filter_rule& rule, const reading& r);

}  // namespace fogbridge
