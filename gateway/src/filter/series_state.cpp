#include "filter/series_state.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace fogbridge {
namespace {

// 2: a window of held readings and `forwarded_ts`. 1 (read only): at most one held reading.
constexpr int state_version = 2;
constexpr int state_version_single_held = 1;

using json = nlohmann::json;

json slope_to_json(double slope) { return std::isfinite(slope) ? json(slope) : json(nullptr); }

std::optional<double> finite_number(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number()) {
        return std::nullopt;
    }
    const double value = it->get<double>();
    if (!std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

// null stands for the unbounded side.
std::optional<double> slope_from_json(const json& object, const char* key, double unbounded) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        return unbounded;
    }
    return finite_number(object, key);
}

std::optional<std::uint64_t> unsigned_number(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_unsigned()) {
        return std::nullopt;
    }
    return it->get<std::uint64_t>();
}

json held_to_json(const reading& r) {
    return {{"value", r.value}, {"unit", r.unit}, {"ts", r.ts}, {"boot", r.boot}, {"seq", r.seq}};
}

std::optional<reading> held_from_json(const json& held, const std::string& device,
                                      const std::string& sensor) {
    if (!held.is_object()) {
        return std::nullopt;
    }
    const auto value = finite_number(held, "value");
    const auto ts = finite_number(held, "ts");
    const auto boot = unsigned_number(held, "boot");
    const auto seq = unsigned_number(held, "seq");
    const auto unit = held.find("unit");
    if (!value || !ts || !boot || !seq || unit == held.end() || !unit->is_string()) {
        return std::nullopt;
    }
    return reading{.device = device,
                   .sensor = sensor,
                   .value = *value,
                   .unit = unit->get<std::string>(),
                   .ts = *ts,
                   .boot = *boot,
                   .seq = *seq};
}

// The held readings: oldest first, none before the anchor, the newest is the last received.
bool held_consistent(const series_state& state) {
    const auto& held = state.door.held;
    if (held.empty()) {
        return true;
    }
    if (held.size() > door_max_held || held.front().ts < state.anchor_ts ||
        held.back().ts != state.last_received_ts) {
        return false;
    }
    for (std::size_t i = 1; i < held.size(); ++i) {
        if (held[i].ts < held[i - 1].ts) {
            return false;
        }
    }
    return true;
}

bool read_anchor_slopes(const json& doc, series_state& state) {
    const auto lo = slope_from_json(doc, "slope_lo", -std::numeric_limits<double>::infinity());
    const auto hi = slope_from_json(doc, "slope_hi", std::numeric_limits<double>::infinity());
    if (!lo || !hi) {
        return false;
    }
    state.door.anchor_slope_lo = *lo;
    state.door.anchor_slope_hi = *hi;
    return true;
}

// Fills `held` from the version's form: an array (2) or one object (1).
bool read_held(const json& doc, int version, const std::string& device, const std::string& sensor,
               series_state& state) {
    const auto held = doc.find("held");
    if (held == doc.end()) {
        return true;
    }
    if (version == state_version_single_held) {
        auto r = held_from_json(*held, device, sensor);
        if (!r || r->ts <= state.anchor_ts) {
            return false;
        }
        state.door.held.push_back(std::move(*r));
        return read_anchor_slopes(doc, state);
    }
    if (!held->is_array() || held->empty()) {
        return false;
    }
    for (const auto& item : *held) {
        auto r = held_from_json(item, device, sensor);
        if (!r) {
            return false;
        }
        state.door.held.push_back(std::move(*r));
    }
    return read_anchor_slopes(doc, state);
}

std::optional<series_state> state_from_json(const json& doc, const std::string& device,
                                            const std::string& sensor) {
    const auto version_field = doc.find("v");
    if (version_field == doc.end() || !version_field->is_number_integer()) {
        return std::nullopt;
    }
    const int version = version_field->get<int>();
    if (version != state_version && version != state_version_single_held) {
        return std::nullopt;
    }
    const auto received = finite_number(doc, "received_ts");
    const auto anchor_ts = finite_number(doc, "anchor_ts");
    const auto anchor_value = finite_number(doc, "anchor_value");
    // Version 1 did not record it; the anchor's own ts makes the next heartbeat come no later.
    const auto forwarded =
        version == state_version ? finite_number(doc, "forwarded_ts") : anchor_ts;
    if (!received || !anchor_ts || !anchor_value || !forwarded || *anchor_ts > *forwarded ||
        *forwarded > *received) {
        return std::nullopt;
    }
    series_state state;
    state.last_received_ts = *received;
    state.anchor_ts = *anchor_ts;
    state.anchor_value = *anchor_value;
    state.forwarded_ts = *forwarded;
    if (!read_held(doc, version, device, sensor, state) || !held_consistent(state)) {
        return std::nullopt;
    }
    return state;
}

}  // namespace

std::string encode_series_state(const series_state& state) {
    json doc = {{"v", state_version},
                {"received_ts", state.last_received_ts},
                {"anchor_ts", state.anchor_ts},
                {"anchor_value", state.anchor_value},
                {"forwarded_ts", state.forwarded_ts}};
    if (!state.door.held.empty()) {
        json held = json::array();
        for (const auto& r : state.door.held) {
            held.push_back(held_to_json(r));
        }
        doc["held"] = std::move(held);
        doc["slope_lo"] = slope_to_json(state.door.anchor_slope_lo);
        doc["slope_hi"] = slope_to_json(state.door.anchor_slope_hi);
    }
    // Replace rather than throw on a unit that is not UTF-8; the state must always be written.
    return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<series_state> decode_series_state(const series_name& series,
                                                const std::string& text) {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) {
        return std::nullopt;
    }
    return state_from_json(doc, series.device, series.sensor);
}

}  // namespace fogbridge
