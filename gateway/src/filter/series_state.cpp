#include "filter/series_state.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace fogbridge {
namespace {

constexpr int state_version = 1;

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

std::optional<series_state> state_from_json(const json& doc, const std::string& device,
                                            const std::string& sensor) {
    const auto version = doc.find("v");
    if (version == doc.end() || *version != state_version) {
        return std::nullopt;
    }
    const auto received = finite_number(doc, "received_ts");
    const auto anchor_ts = finite_number(doc, "anchor_ts");
    const auto anchor_value = finite_number(doc, "anchor_value");
    if (!received || !anchor_ts || !anchor_value || *anchor_ts > *received) {
        return std::nullopt;
    }
    series_state state;
    state.last_received_ts = *received;
    state.anchor_ts = *anchor_ts;
    state.anchor_value = *anchor_value;
    const auto held = doc.find("held");
    if (held == doc.end()) {
        return state;
    }

    auto held_reading = held_from_json(*held, device, sensor);
    const auto lo = slope_from_json(doc, "slope_lo", -std::numeric_limits<double>::infinity());
    const auto hi = slope_from_json(doc, "slope_hi", std::numeric_limits<double>::infinity());
    // The held reading is always the newest one received and lies after the anchor.
    if (!held_reading || !lo || !hi || held_reading->ts != *received ||
        held_reading->ts <= *anchor_ts) {
        return std::nullopt;
    }
    state.door = {.held = std::move(held_reading), .slope_lo = *lo, .slope_hi = *hi};
    return state;
}

}  // namespace

std::string encode_series_state(const series_state& state) {
    json doc = {{"v", state_version},
                {"received_ts", state.last_received_ts},
                {"anchor_ts", state.anchor_ts},
                {"anchor_value", state.anchor_value}};
    if (const auto& held = state.door.held) {
        doc["held"] = {{"value", held->value},
                       {"unit", held->unit},
                       {"ts", held->ts},
                       {"boot", held->boot},
                       {"seq", held->seq}};
        doc["slope_lo"] = slope_to_json(state.door.slope_lo);
        doc["slope_hi"] = slope_to_json(state.door.slope_hi);
    }
    // Replace rather than throw on a unit that is not UTF-8; the state must always be written.
    return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<series_state> decode_series_state(const std::string& text, const std::string& device,
                                                const std::string& sensor) {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) {
        return std::nullopt;
    }
    return state_from_json(doc, device, sensor);
}

}  // namespace fogbridge
