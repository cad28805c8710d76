// Replays recorded series through the real significant-change filter and measures what the cloud
// could rebuild from the kept points: for fogbridge-filter-eval and its tests. Pure (no I/O);
// not thread-safe (one caller per call, no shared state).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filter/filter_settings.hpp"
#include "filter/reconstruct.hpp"
#include "fogbridge/recording.hpp"

namespace fogbridge {

struct eval_settings {
    std::string device = "replay";  // series are "<device>/<channel>"
    // Forces every rule into this mode. Switching to swinging_door sets deviation E = deadband
    // (when the rule has one); switching to deadband sets deadband = deviation (when the rule
    // has no deadband), so both modes compare at the same bound.
    std::optional<filter_mode> force_mode;
    // Also find the fewest readings any filter could keep within the rule's bound and heartbeat
    // (channel_eval::fewest_possible); costs O(n * L) per channel, see fewest_kept().
    bool fewest_possible = false;
};

// One channel to replay: its readings (missing values already left out) and how many values the
// recording marked missing.
struct eval_input {
    std::string name;
    std::vector<series_point> samples;
    std::size_t missing = 0;
};

struct channel_eval {
    std::string name;
    std::string rule;  // name of the rule that applied
    filter_mode mode = filter_mode::deadband;
    std::size_t readings = 0;
    std::size_t missing = 0;
    std::size_t kept = 0;  // = kept_first + kept_change + kept_heartbeat + kept_gap
    std::size_t kept_first = 0;
    std::size_t kept_change = 0;  // swinging door: includes held points emitted and the flush
    std::size_t kept_heartbeat = 0;
    std::size_t kept_gap = 0;
    std::optional<double> reduction_pct;  // 100 * (1 - kept / readings); none without readings
    std::optional<double> max_error;      // of the rebuilt series; none without readings
    std::optional<double> rms_error;
    std::optional<double> bound;  // see error_bound()
    // With eval_settings::fewest_possible: fewest_kept() for the rule's rebuild, bound and
    // heartbeat; none without a bound or when the timestamps do not strictly increase.
    std::optional<std::size_t> fewest_possible;
};

// The rule with the forced mode applied (see eval_settings::force_mode).
filter_rule force_rule_mode(filter_rule rule, filter_mode mode);
filter_settings force_mode(filter_settings settings, filter_mode mode);

// The largest rebuild error the rule guarantees: deviation E (swinging door) or deadband
// (deadband mode; deadband_pct only lowers the threshold, so deadband still bounds it; 0 for a
// pass-through rule). None when there is no absolute guarantee: deadband mode with only
// deadband_pct (the bound is relative to the last forwarded value), or min_interval > 0 (the rate
// cap wins over the bound).
std::optional<double> error_bound(const filter_rule& rule);

// Called now and then with (readings replayed, readings in all).
using eval_progress = std::function<void(std::size_t, std::size_t)>;

// Replays every channel through one significant_change_filter built from `settings` (after
// force_mode), as series "<device>/<name>" in the order given, with readings in their given
// order; flushes held readings at the end; rebuilds each channel by step-hold (deadband) or
// linear interpolation (swinging door) and compares with every reading. Channels with the same
// name are one series (a recording split over files): pass them merged.
std::vector<channel_eval> evaluate(const filter_settings& settings,
                                   std::span<const eval_input> inputs,
                                   const eval_settings& options = {},
                                   const eval_progress& progress = {});

// A recording's channel as input; non-finite values count as missing.
eval_input to_eval_input(const channel& c);
// Appends `more` to the channel of the same name in `into`, or adds it as a new channel.
void merge_input(std::vector<eval_input>& into, eval_input more);

}  // namespace fogbridge
