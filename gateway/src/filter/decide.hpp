// The filter's decision rules as pure functions on one series' state (see
// significant_change_filter.hpp for the semantics). No I/O, no clock; thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "common/reading.hpp"
#include "filter/filter_settings.hpp"
#include "filter/series_state.hpp"

namespace fogbridge {

enum class filter_decision { keep_first, keep_change, keep_heartbeat, keep_gap, drop };

std::string_view to_string(filter_decision decision);

struct step_result {
    filter_decision decision = filter_decision::drop;
    std::optional<reading> emit;  // a held reading that is now kept (a change), sent first
    bool held_dropped = false;    // a previously held reading is now finally dropped
    bool now_held = false;        // decision is drop, but the reading is held, not yet settled
};

// The first reading of a series: kept, and it becomes the anchor.
step_result start_series(series_state& state, const reading& r);
// Every later reading.
step_result decide(series_state& state, const filter_rule& rule, const reading& r);
// Ends the open swinging-door segment: the held reading, if any, becomes a kept point.
std::optional<reading> flush_held(series_state& state);

// The parts, exposed for tests.
bool moved_enough(const filter_rule& rule, double last_forwarded, double value);
// elapsed >= limit, forgiving the rounding of differences of epoch-sized timestamps.
bool reached(double elapsed, double limit, double ts);
step_result deadband_step(series_state& state, const filter_rule& rule, const reading& r);
step_result door_step(series_state& state, const filter_rule& rule, const reading& r);

}  // namespace fogbridge
