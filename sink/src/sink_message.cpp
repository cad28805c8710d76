#include "sink_message.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "batch/compress.hpp"

namespace fogbridge::sink {
namespace {

using json = nlohmann::json;
constexpr std::uint64_t max_counter = 9007199254740991ULL;  // 2^53 - 1, as the schemas say

struct bad_field {
    std::string reason;
    std::string detail;
};

std::string text_of(const json& j, const char* key, bool required = true) {
    const auto it = j.find(key);
    if (it == j.end()) {
        if (required) throw bad_field{"missing_field", fmt::format("no '{}'", key)};
        return {};
    }
    if (!it->is_string()) throw bad_field{"bad_type", fmt::format("'{}' is not a string", key)};
    return it->get<std::string>();
}

std::string id_of(const json& j, const char* key) {
    std::string s = text_of(j, key);
    if (!valid_id(s)) throw bad_field{"bad_id", fmt::format("'{}' is not a valid id", key)};
    return s;
}

std::uint64_t counter_of(const json& j, const char* key, std::uint64_t min) {
    const auto it = j.find(key);
    if (it == j.end()) throw bad_field{"missing_field", fmt::format("no '{}'", key)};
    if (!it->is_number_unsigned() && !it->is_number_integer()) {
        throw bad_field{"bad_type", fmt::format("'{}' is not an integer", key)};
    }
    if (it->is_number_integer() && !it->is_number_unsigned() && it->get<std::int64_t>() < 0) {
        throw bad_field{"out_of_range", fmt::format("'{}' is negative", key)};
    }
    const auto v = it->get<std::uint64_t>();
    if (v < min || v > max_counter) {
        throw bad_field{"out_of_range", fmt::format("'{}' is out of range", key)};
    }
    return v;
}

std::optional<double> number_of(const json& j, const char* key, bool required) {
    const auto it = j.find(key);
    if (it == j.end() || (it->is_null() && !required)) {
        if (required) throw bad_field{"missing_field", fmt::format("no '{}'", key)};
        return std::nullopt;
    }
    if (!it->is_number()) throw bad_field{"bad_type", fmt::format("'{}' is not a number", key)};
    const double v = it->get<double>();
    if (!std::isfinite(v)) throw bad_field{"out_of_range", fmt::format("'{}' is not finite", key)};
    return v;
}

const json& array_of(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) throw bad_field{"missing_field", fmt::format("no '{}'", key)};
    if (!it->is_array()) throw bad_field{"bad_type", fmt::format("'{}' is not an array", key)};
    return *it;
}

reading_row read_reading(const json& r) {
    if (!r.is_object()) throw bad_field{"bad_type", "a reading is not an object"};
    reading_row row;
    row.device = id_of(r, "device");
    row.boot = counter_of(r, "boot", 0);
    row.seq = counter_of(r, "seq", 1);
    row.sensor = id_of(r, "sensor");
    row.ts = *number_of(r, "ts", true);
    if (row.ts < 0 || row.ts > 1e11) throw bad_field{"out_of_range", "'ts' is out of range"};
    row.value = number_of(r, "value", false);
    if (r.contains("unit")) {
        row.unit = text_of(r, "unit");
        if (row.unit->size() > 16) throw bad_field{"out_of_range", "'unit' is too long"};
    }
    return row;
}

std::optional<refused_key> key_of(const json& r) {
    try {
        if (!r.is_object()) return std::nullopt;
        return refused_key{id_of(r, "device"), counter_of(r, "boot", 0), counter_of(r, "seq", 1)};
    } catch (const bad_field&) {
        return std::nullopt;
    }
}

range_row read_range(const json& r) {
    if (!r.is_object()) throw bad_field{"bad_type", "a range is not an object"};
    range_row row{id_of(r, "device"), counter_of(r, "boot", 0), counter_of(r, "first", 1),
                  counter_of(r, "last", 1)};
    if (row.first > row.last) throw bad_field{"out_of_range", "a range has first > last"};
    return row;
}

// A running sum of integer deltas (seq, ts in ms); the first entry is absolute.
std::vector<std::int64_t> sums_of(const json& deltas, std::size_t n, const char* key) {
    if (!deltas.is_array() || deltas.size() != n) {
        throw bad_field{"bad_type",
                        fmt::format("series '{}' is not an array as long as 'value'", key)};
    }
    std::vector<std::int64_t> out;
    out.reserve(n);
    std::int64_t sum = 0;
    for (const json& d : deltas) {
        if (!d.is_number_integer()) {
            throw bad_field{"bad_type", fmt::format("series '{}' holds a non-integer", key)};
        }
        const auto v = d.get<std::int64_t>();
        if (v > 0 ? sum > INT64_MAX - v : sum < INT64_MIN - v) {
            throw bad_field{"out_of_range", fmt::format("series '{}' overflows", key)};
        }
        sum += v;
        out.push_back(sum);
    }
    return out;
}

// The readings of one series of a columnar batch, as the objects the rows layout carries.
void expand_series(const json& s, json& rows) {
    if (!s.is_object()) throw bad_field{"bad_type", "a series is not an object"};
    const json& values = array_of(s, "value");
    const std::size_t n = values.size();
    const auto seqs = sums_of(array_of(s, "seq"), n, "seq");
    std::vector<double> ts(n);
    if (s.contains("ts")) {
        const auto ms = sums_of(array_of(s, "ts"), n, "ts");
        for (std::size_t i = 0; i < n; ++i) ts[i] = static_cast<double>(ms[i]) / 1000.0;
    } else {
        const json& secs = array_of(s, "ts_s");
        if (secs.size() != n) {
            throw bad_field{"bad_type", "series 'ts_s' is not as long as 'value'"};
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (!secs[i].is_number()) {
                throw bad_field{"bad_type", "series 'ts_s' holds a non-number"};
            }
            ts[i] = secs[i].get<double>();
        }
    }
    json head = json::object();
    for (const char* key : {"device", "sensor", "boot", "unit"}) {
        if (s.contains(key)) head[key] = s[key];
    }
    for (std::size_t i = 0; i < n; ++i) {
        json r = head;
        r["seq"] = seqs[i];
        r["ts"] = ts[i];
        r["value"] = values[i];
        rows.push_back(std::move(r));
    }
}

// Counted before expanding: a small payload of short arrays could otherwise grow large.
json rows_of_series(const json& body, std::size_t max_readings) {
    // Versions 1 (absent) and 2 differ only in "ts_gw" (which the sink does not store); a later
    // one may mean something this sink would read wrong.
    if (body.contains("layout_version")) {
        const json& v = body["layout_version"];
        if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 2) {
            throw bad_field{"out_of_range", "'layout_version' is not 1 or 2"};
        }
    }
    const json& series = array_of(body, "series");
    std::size_t n = 0;
    for (const json& s : series) {
        if (s.is_object() && s.contains("value") && s["value"].is_array()) n += s["value"].size();
    }
    if (n > max_readings) {
        throw bad_field{"too_large", fmt::format("{} readings, more than sink.max_readings {}", n,
                                                 max_readings)};
    }
    json rows = json::array();
    for (const json& s : series) expand_series(s, rows);
    return rows;
}

void check_gateway(const json& body, const std::string& gateway) {
    if (text_of(body, "gateway") != gateway) {
        throw bad_field{"gateway_mismatch", "'gateway' differs from the topic's gateway"};
    }
}

batch_message read_batch(const json& body, const std::string& gateway, const parse_limits& limits) {
    check_gateway(body, gateway);
    batch_message b;
    b.gateway = gateway;
    b.batch_id = text_of(body, "batch_id");
    if (b.batch_id.empty() || b.batch_id.size() > 128) {
        throw bad_field{"out_of_range", "'batch_id' must have 1 to 128 characters"};
    }
    if (body.contains("replay")) {
        if (!body["replay"].is_boolean()) throw bad_field{"bad_type", "'replay' is not a boolean"};
        b.replay = body["replay"].get<bool>();
    }
    b.created = number_of(body, "created", false);
    const json readings = body.contains("series") ? rows_of_series(body, limits.max_readings)
                                                  : array_of(body, "readings");
    const json& ranges = array_of(body, "ranges");
    if (readings.size() > limits.max_readings) {
        throw bad_field{"too_large", fmt::format("{} readings, more than sink.max_readings {}",
                                                 readings.size(), limits.max_readings)};
    }
    b.readings.reserve(readings.size());
    for (const json& r : readings) {
        try {
            b.readings.push_back(read_reading(r));
        } catch (const bad_field& e) {
            b.rejected.push_back({e.reason, "reading: " + e.detail});
            if (auto key = key_of(r)) b.refused.push_back(std::move(*key));
        }
    }
    for (const json& r : ranges) {
        try {
            b.ranges.push_back(read_range(r));
        } catch (const bad_field& e) {
            b.rejected.push_back({e.reason, "range: " + e.detail});
        }
    }
    return b;
}

gap_row read_gap(const json& g) {
    if (!g.is_object()) throw bad_field{"bad_type", "a gap record is not an object"};
    gap_row row;
    row.device = id_of(g, "device");
    row.boot = counter_of(g, "boot", 0);
    row.reason = text_of(g, "reason");
    row.first = counter_of(g, "first_seq", 1);
    row.last = counter_of(g, "last_seq", 1);
    if (row.first > row.last) throw bad_field{"out_of_range", "first_seq > last_seq"};
    if (g.contains("count")) row.count = counter_of(g, "count", 0);
    const json& dropped = array_of(g, "dropped");
    for (const json& run : dropped) {
        if (!run.is_array() || run.size() != 2 || !run[0].is_number_unsigned() ||
            !run[1].is_number_unsigned()) {
            throw bad_field{"bad_type", "a dropped run is not [first, last]"};
        }
        const auto a = run[0].get<std::uint64_t>();
        const auto z = run[1].get<std::uint64_t>();
        if (a > z || a < row.first || z > row.last) {
            throw bad_field{"out_of_range", "a dropped run lies outside first_seq..last_seq"};
        }
        row.dropped.emplace_back(a, z);
    }
    row.dropped_json = dropped.dump();
    return row;
}

gaps_message read_gaps(const json& body, const std::string& gateway) {
    check_gateway(body, gateway);
    gaps_message m;
    m.gateway = gateway;
    m.gap_id = text_of(body, "gap_id", false);
    for (const json& g : array_of(body, "gaps")) {
        try {
            m.gaps.push_back(read_gap(g));
        } catch (const bad_field& e) {
            m.rejected.push_back({e.reason, "gap record: " + e.detail});
        }
    }
    return m;
}

// "<gw>/<kind>" or "<gw>/devices/<device>/health" after the prefix.
struct topic_parts {
    std::string gateway;
    std::string kind;
    std::string device;
};

std::optional<topic_parts> split_topic(std::string_view prefix, std::string_view topic) {
    if (topic.size() <= prefix.size() + 1 || topic.substr(0, prefix.size()) != prefix ||
        topic[prefix.size()] != '/') {
        return std::nullopt;
    }
    std::vector<std::string> levels;
    std::string_view rest = topic.substr(prefix.size() + 1);
    while (true) {
        const auto slash = rest.find('/');
        levels.emplace_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    if (levels.size() == 2) return topic_parts{levels[0], levels[1], {}};
    if (levels.size() == 4 && levels[1] == "devices" && levels[3] == "health") {
        return topic_parts{levels[0], "device_health", levels[2]};
    }
    return std::nullopt;
}

message read_body(const topic_parts& t, std::string_view text, bool compressed,
                  const parse_limits& limits) {
    if (t.kind == "status") {
        if (text != "online" && text != "offline") {
            return rejected_message{t.gateway, "bad_status", "status is not online or offline"};
        }
        return status_message{t.gateway, std::string(text)};
    }
    json body;
    try {
        body = json::parse(text);
    } catch (const json::exception&) {
        return rejected_message{t.gateway, "bad_json", "the payload is not JSON"};
    }
    if (!body.is_object()) {
        return rejected_message{t.gateway, "bad_type", "the payload is not a JSON object"};
    }
    try {
        if (t.kind == "batch") {
            auto b = read_batch(body, t.gateway, limits);
            b.compressed = compressed;
            return b;
        }
        if (t.kind == "gaps") return read_gaps(body, t.gateway);
        if (t.kind == "alerts") {
            check_gateway(body, t.gateway);
            return alert_message{t.gateway, id_of(body, "device"), number_of(body, "ts", false),
                                 std::string(text)};
        }
        if (t.kind == "health") {
            check_gateway(body, t.gateway);
            return health_message{t.gateway, "", number_of(body, "ts", false), std::string(text)};
        }
        if (body.contains("device") && text_of(body, "device") != t.device) {
            throw bad_field{"device_mismatch", "'device' differs from the topic's device"};
        }
        return health_message{t.gateway, t.device, number_of(body, "ts", false), std::string(text)};
    } catch (const bad_field& e) {
        return rejected_message{t.gateway, e.reason, e.detail};
    } catch (const json::exception& e) {
        return rejected_message{t.gateway, "bad_type", e.what()};
    }
}

}  // namespace

bool is_zstd(std::string_view payload) {
    return payload.size() >= 4 && payload.substr(0, 4) == std::string_view("\x28\xB5\x2F\xFD", 4);
}

bool valid_id(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    return std::ranges::all_of(s, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == ':' || c == '-';
    });
}

message parse_message(std::string_view prefix, const raw_message& raw, const parse_limits& limits) {
    const auto [topic, payload] = raw;
    const auto t = split_topic(prefix, topic);
    if (!t) return rejected_message{"", "unknown_topic", std::string(topic)};
    if (!valid_id(t->gateway)) return rejected_message{"", "bad_id", "the topic's gateway id"};
    if (!t->device.empty() && !valid_id(t->device)) {
        return rejected_message{t->gateway, "bad_id", "the topic's device id"};
    }
    const bool known = t->kind == "batch" || t->kind == "gaps" || t->kind == "alerts" ||
                       t->kind == "health" || t->kind == "status" || t->kind == "device_health";
    if (!known) return rejected_message{t->gateway, "unknown_topic", std::string(topic)};
    if (payload.size() > limits.max_payload_bytes) {
        return rejected_message{t->gateway, "too_large",
                                fmt::format("{} bytes, more than sink.max_payload_bytes {}",
                                            payload.size(), limits.max_payload_bytes)};
    }
    if (is_zstd(payload)) {
        const auto inflated = zstd_decompress(payload, limits.max_payload_bytes);
        if (!inflated) {
            return rejected_message{t->gateway, "bad_zstd",
                                    "not a valid zstd frame, or it inflates past "
                                    "sink.max_payload_bytes"};
        }
        return read_body(*t, *inflated, true, limits);
    }
    return read_body(*t, payload, false, limits);
}

std::vector<std::string> subscriptions(const subscription_scope& scope) {
    const std::string head =
        scope.share_group.empty() ? std::string() : fmt::format("$share/{}/", scope.share_group);
    std::vector<std::string> out;
    for (const auto* kind : {"batch", "gaps", "alerts", "health", "status", "devices/+/health"}) {
        out.push_back(fmt::format("{}{}/+/{}", head, scope.prefix, kind));
    }
    return out;
}

}  // namespace fogbridge::sink
