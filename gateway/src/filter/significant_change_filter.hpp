// The gateway's significant-change filter: decides per reading whether to forward it. Pure (time
// is the reading's ts); not thread-safe, one owner.
//
// Rules. A series (device, sensor) uses the first rule whose `match` glob matches
// "device/sensor" ('*' = any run of characters without '/', '?' = one character but '/'), else
// the default rule. The choice is cached per series and redone after reload().
//
// Order of the checks for a reading r of a known series (the first that applies decides):
//  1. gap: r.ts < the previous reading's ts (the device clock went back), or heartbeat > 0 and
//     r.ts - previous ts > heartbeat: keep_gap. The series restarts at r, as if it were new.
//  2. deadband: the mode's own rule (below) for keep_change;
//  3. deadband: heartbeat > 0 and r.ts - last forwarded ts >= heartbeat: keep_heartbeat (r
//     itself, with its own ts). A reading that is both a change and due for a heartbeat is
//     keep_change. swinging_door has its own order (below), with the same heartbeat rule.
//  4. otherwise drop.
// The first reading of a series is keep_first. Gaps, first readings and heartbeats ignore
// min_interval. Time comparisons forgive 1e-13 * |ts| (0.2 ms today) of rounding, value
// comparisons 1e-12 of the magnitudes involved, so "exactly the deadband" holds for decimals.
//
// deadband mode (a reading is never held; reconstruct by step-hold):
//  - change: |r.value - last forwarded value| >= threshold, where threshold is the smaller of the
//    enabled ones: `deadband`, and deadband_pct / 100 * |last forwarded value|. Either threshold
//    reached is enough. A percentage of a last value of 0 is 0, so then any nonzero move passes
//    (the limit of the rule as the value nears 0); a zero move never passes. With both
//    thresholds 0 the rule passes everything (subject to min_interval).
//  - min_interval > 0: a change less than min_interval after the last forwarded reading is
//    dropped (the next reading that still differs enough passes).
//  Bound: with min_interval 0, every dropped reading is within the threshold of the last
//  forwarded value before it.
//
// swinging_door mode (deviation E; reconstruct by linear interpolation between kept points):
//  The anchor is the last kept reading. The readings after it are held (decision drop, not
//  settled: each may still become a kept point), at most door_max_held of them. Over the anchor
//  and the held readings the filter keeps a plan: for each held reading, the fewest kept points
//  from the anchor to it such that every line between consecutive kept points passes within E
//  of every reading between them (shortest paths; ties go to the later predecessor). A line may
//  not pass a reading at or after a heartbeat from its start, so consecutive kept points are at
//  most a heartbeat apart (the later one at the latest the first reading at or after it).
//  Held readings are settled by these rules, checked after each reading r (itself held first):
//  - heartbeat > 0 and r.ts - forwarded_ts >= heartbeat (nothing forwarded for a heartbeat): r
//    is kept (keep_heartbeat), after the kept points of the best line to it (emitted first,
//    oldest first); every other held reading is dropped.
//  - otherwise, repeated while one applies, with F = the first kept point of the best line to r
//    and next = r.ts + (r.ts - previous ts) (when the next reading is expected):
//    - heartbeat > 0, F is not r and next - forwarded_ts >= heartbeat: F is kept now (so the
//      heartbeat does not have to keep the next reading);
//    - heartbeat > 0 and the oldest held reading has been held a heartbeat, or would be by
//      next: F is kept now (keep_change when F is r);
//    - more than door_max_held held: F is kept if it is the oldest held reading, else the oldest
//      held reading is dropped for good (the anchor's slope range keeps it in account).
//    Keeping F drops the held readings before it; F becomes the anchor, forwarded at r.ts.
//  So a held reading is settled before it is held a heartbeat (when readings come at a steady
//  rate; in any case by the first reading a heartbeat after it), and something is forwarded by
//  the first reading a heartbeat after the last forward. forwarded_ts is the ts of the reading
//  at which the series last forwarded anything (a kept held reading counts when emitted).
//  Bound: with min_interval 0 every line between consecutive kept points passes within E of
//  every dropped reading between them (up to rounding, ~1e-12 of the values); readings sharing
//  a ts make the rebuilt value at that instant ambiguous. It is not a global minimum of kept
//  points: a point is settled from what has been seen.
//  - min_interval > 0 caps the rate at the cost of the bound: consecutive kept points of a line
//    are at least min_interval apart; when no line that long fits, one that misses is used.
//  A gap, flush() and a reload that leaves the series a non-swinging_door rule settle all held
//  readings at once: the best line's points to the newest held reading are kept (under a
//  non-swinging_door rule every held reading is kept, since E is no longer known). The held
//  readings are part of the exported state, so a restart continues the plan exactly; a caller
//  that acknowledges a held (dropped) reading to its device must therefore commit the series'
//  exported state in the same transaction.
//
// Counters count each reading once, when its fate is settled: a held reading is counted when it
// is emitted (kept_change) or dropped for good, under the rule in force at that moment.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/reading.hpp"
#include "filter/decide.hpp"
#include "filter/filter_settings.hpp"
#include "filter/series_state.hpp"

namespace fogbridge {

struct filter_result {
    filter_decision decision = filter_decision::drop;  // for the incoming reading
    // Swinging door: earlier held readings that are now kept, oldest first; forward them BEFORE
    // the incoming reading when that is kept too. Each counts as keep_change.
    std::vector<reading> emit;
    bool holding = false;  // after this reading the series holds readings back (swinging door)
};

class significant_change_filter final {
  public:
    struct rule_counters {
        std::uint64_t kept_first = 0;
        std::uint64_t kept_change = 0;
        std::uint64_t kept_heartbeat = 0;
        std::uint64_t kept_gap = 0;
        std::uint64_t dropped = 0;
    };

    explicit significant_change_filter(filter_settings settings);

    // r.value and r.ts should be finite (the validate stage sees to it); if not, r is dropped
    // without touching the series.
    filter_result apply(const reading& r);

    // Rules replaced (pass them through check_filter_settings first); per-series state and
    // counters kept. New thresholds apply from each series' next reading; an open
    // swinging-door segment keeps the slope range it has gathered.
    void reload(filter_settings settings);

    // Opaque JSON of one series' state (including held readings); "" for an unknown series.
    std::string export_state(const std::string& device, const std::string& sensor) const;
    // Replaces the series' state. Malformed or inconsistent state is ignored and the series
    // starts fresh (its next reading is keep_first); returns whether the state was taken.
    bool import_state(const std::string& device, const std::string& sensor,
                      const std::string& state);
    // Series whose state changed since the last call (apply or flush; not import), in order of
    // first change. The store saves their export_state() with the readings it commits.
    std::vector<std::pair<std::string, std::string>> take_dirty();

    // Ends a series' open swinging-door segment: the held readings now kept (keep_change),
    // oldest first; the others are dropped. Not needed for correctness, the held readings survive
    // in the exported state; use it when the cloud should get a quiet series' last point without
    // waiting for the next reading (a shutdown, an idle timer of the caller's).
    std::vector<reading> flush(const std::string& device, const std::string& sensor);
    std::vector<reading> flush_all();
    // Series holding swinging-door readings back: (device, sensor, ts of the oldest held).
    std::vector<std::tuple<std::string, std::string, double>> oldest_held() const;
    // The ts of the oldest reading a series holds back; nullopt when it holds none.
    std::optional<double> oldest_held_ts(const std::string& device,
                                         const std::string& sensor) const;

    const std::map<std::string, rule_counters>& counters() const { return counters_; }
    // The rule that applies to a series under the current settings.
    const filter_rule& rule_for(std::string_view device, std::string_view sensor) const;
    std::size_t series_count() const { return series_.size(); }

  private:
    struct series_key {
        std::string device;
        std::string sensor;
        bool operator==(const series_key&) const = default;
    };
    struct series_key_hash {
        std::size_t operator()(const series_key& key) const;
    };
    struct series_entry {
        series_state state;
        std::uint64_t rule_generation = 0;  // rule_index is valid while this equals generation_
        std::size_t rule_index = 0;         // into settings_.rules; its size = the default rule
        bool dirty = false;
    };

    const filter_rule& rule_of(series_entry& entry, const series_key& key);
    std::size_t find_rule(std::string_view device, std::string_view sensor) const;
    const filter_rule& rule_at(std::size_t index) const;
    void mark_dirty(series_entry& entry, const series_key& key);
    std::vector<reading> flush_entry(series_entry& entry, const series_key& key);
    void count(const filter_rule& rule, const step_result& step);
    void add_rule_counters();

    filter_settings settings_;
    std::uint64_t generation_ = 1;
    std::unordered_map<series_key, series_entry, series_key_hash> series_;
    std::vector<series_key> dirty_;
    std::map<std::string, rule_counters> counters_;
};

}  // namespace fogbridge
