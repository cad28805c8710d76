// Per-series state of the significant-change filter and its opaque JSON form. Plain data.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/reading.hpp"

namespace fogbridge {

// The swinging door holds at most this many readings per series; past it, the oldest is settled
// (kept if the best line needs it, else dropped for good).
inline constexpr std::size_t door_max_held = 32;

// One candidate kept point of the swinging door's plan (see swinging_door.cpp).
struct door_plan_node {
    double ts = 0;
    double value = 0;
    // Slopes from this point whose line passes within E of every reading after it seen so far.
    double slope_lo = -std::numeric_limits<double>::infinity();
    double slope_hi = std::numeric_limits<double>::infinity();
    // A reading at or after a heartbeat from this point was seen: no segment from it goes past.
    bool capped = false;
    std::size_t kept = 0;    // kept points from the anchor up to here; SIZE_MAX: no line gets here
    std::size_t parent = 0;  // the kept point before it on its best line
};

// The open swinging-door segment: the readings after the anchor, none of them settled yet.
struct door_state {
    // Oldest first; the newest is the series' newest reading. Each may still become a kept point.
    std::vector<reading> held;
    // Slopes from the anchor that stay within the deviation of the readings after the anchor that
    // were dropped for good while later ones are still held (the oldest held readings, when the
    // window was full). Unbounded when there are none.
    double anchor_slope_lo = -std::numeric_limits<double>::infinity();
    double anchor_slope_hi = std::numeric_limits<double>::infinity();

    // Derived from the above (node 0 the anchor, node i held[i - 1]) under the rule `plan_for`,
    // kept between readings so that a reading costs O(held) instead of O(held^2). Not part of
    // the state's value: not stored, not compared; empty means "work it out again".
    std::vector<door_plan_node> plan;
    struct plan_rule {
        double deviation = 0;
        double heartbeat = 0;
        double min_interval = 0;
        bool operator==(const plan_rule&) const = default;
    } plan_for;

    bool operator==(const door_state& other) const {
        return held == other.held && anchor_slope_lo == other.anchor_slope_lo &&
               anchor_slope_hi == other.anchor_slope_hi;
    }
};

struct series_state {
    double last_received_ts = 0;
    double anchor_ts = 0;     // the last kept reading ...
    double anchor_value = 0;  // ... which is also the swinging door's pivot
    // When the filter last forwarded something, in reading time: the ts of the reading that made
    // it forward (a held reading kept later is forwarded then). The heartbeat counts from here.
    double forwarded_ts = 0;
    door_state door;

    bool operator==(const series_state&) const = default;
};

// Versioned JSON with doubles written exactly (shortest round-trip form).
std::string encode_series_state(const series_state& state);
// Which series a state belongs to: its names fill the held readings.
struct series_name {
    const std::string& device;
    const std::string& sensor;
};

// The state of `series` from `text`; nullopt for anything malformed or inconsistent. Reads the
// current version and version 1 (one held reading and its slope range).
std::optional<series_state> decode_series_state(const series_name& series, const std::string& text);

}  // namespace fogbridge
