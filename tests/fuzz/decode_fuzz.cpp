// libFuzzer target: device payload decoding and validation (readings, alerts, status, health,
// topics; the readings' fast path against their DOM path),
// the sequence tracker against a model, and the batch/alert encoders' round trip through a JSON
// parser. A crash, a sanitizer report or a broken invariant (abort) is a finding.
#include "decode_fuzz.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "batch/batch.hpp"
#include "validate/decode.hpp"
#include "validate/fast_reading.hpp"
#include "validate/payload.hpp"
#include "validate/topic.hpp"
#include "validate/utf8.hpp"

namespace {

using fogbridge::alert;
using fogbridge::decode_settings;
using fogbridge::reading;
using fogbridge::reject_reason;
using fogbridge::rejection;
using fogbridge_fuzz::check_alert_round_trip;
using fogbridge_fuzz::check_batch_round_trip;
using fogbridge_fuzz::check_string_round_trip;
using fogbridge_fuzz::fuzz_processor_marks;
using fogbridge_fuzz::fuzz_tracker;
using fogbridge_fuzz::max_safe;
using fogbridge_fuzz::now;
using nlohmann::json;

constexpr std::string_view default_device = "sensor-01";

// ---------------------------------------------------------------------------------------------
// Limits, and a topic derived from the input so that the mutator can reach it.

// Every input is decoded under three sets of limits: the shipped defaults, tight ones (so that
// small inputs reach too_large, too_deep, too_many and both edges of the ts window) and loose ones
// (deep nesting handed to the parser, any ts).
std::array<decode_settings, 3> all_settings() {
    decode_settings tight;
    tight.max_payload_bytes = 200;
    tight.max_depth = 2;
    tight.max_readings_per_message = 2;
    tight.max_future_s = 0;
    tight.max_past_s = 0;
    decode_settings loose;
    loose.max_depth = 64;
    loose.max_readings_per_message = 100000;
    loose.max_future_s = 1e300;
    loose.max_past_s = 1e300;
    return {decode_settings{}, tight, loose};
}

// devices/<head>/<kind>, where head is the input up to its first JSON-looking character.
std::string derive_topic(std::string_view data) {
    constexpr std::array<std::string_view, 6> kinds{"readings", "alerts", "status",
                                                    "health",   "ack",    ""};
    const auto cut = std::min<std::size_t>(data.find_first_of("{[\"\n"), 80);
    std::string topic = "devices/";
    topic.append(data.substr(0, cut));
    topic.push_back('/');
    topic.append(kinds[data.size() % kinds.size()]);
    return topic;
}

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x20U || c == 0x7F; });
}

// A second, independent UTF-8 check: nlohmann's strict dump throws on invalid UTF-8.
bool dumps_strictly(const std::string& s) {
    try {
        (void)json(s).dump();
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Topics

// Returns the device the topic names, if it is a valid device topic.
std::optional<std::string> check_topic(std::string_view topic) {
    const auto t = fogbridge::parse_device_topic(topic);
    if (!t) {
        const auto r = fogbridge::topic_reject_reason(topic);
        FOGBRIDGE_FUZZ_CHECK(r == reject_reason::bad_id || r == reject_reason::unknown_topic);
        return std::nullopt;
    }
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_id(t->device));
    FOGBRIDGE_FUZZ_CHECK(t->device.find_first_of("+#/") == std::string::npos);
    // The parse is exact: the parts put together give the topic back.
    std::string again = "devices/" + t->device + "/";
    again.append(fogbridge::to_string(t->kind));
    FOGBRIDGE_FUZZ_CHECK(again == topic);
    return t->device;
}

// ---------------------------------------------------------------------------------------------
// Rejections

bool whole_message(reject_reason r) {
    return r == reject_reason::too_large || r == reject_reason::invalid_utf8 ||
           r == reject_reason::bad_json || r == reject_reason::too_deep ||
           r == reject_reason::too_many;
}

void check_rejection(const rejection& r) {
    FOGBRIDGE_FUZZ_CHECK(fogbridge::to_string(r.reason) != "unknown");
    // The detail goes into the reject payload and the log: short, valid UTF-8, never the input.
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_utf8(r.detail) && dumps_strictly(r.detail));
    FOGBRIDGE_FUZZ_CHECK(!r.detail.empty() && r.detail.size() <= 200);
    FOGBRIDGE_FUZZ_CHECK(r.boot.has_value() == r.seq.has_value());
    if (r.boot) {
        FOGBRIDGE_FUZZ_CHECK(*r.boot <= max_safe);
        FOGBRIDGE_FUZZ_CHECK(*r.seq >= 1 && *r.seq <= max_safe);
    }
}

// What the processor publishes on the rejects topic for hostile bytes must stay valid JSON.
void check_reject_sample(std::string_view payload, const rejection& r) {
    json j = {{"reason", fogbridge::to_string(r.reason)},
              {"detail", r.detail},
              {"payload", payload.substr(0, 256)}};
    const auto text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_utf8(text));
    const auto back = json::parse(text, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(!back.is_discarded());
    FOGBRIDGE_FUZZ_CHECK(back.at("detail").get<std::string>() == r.detail);
}

// ---------------------------------------------------------------------------------------------
// Decoded values

bool in_window(double ts, const decode_settings& s) {
    return ts >= now - s.max_past_s && ts <= now + s.max_future_s;
}

void check_text(const std::string& s, std::size_t max_chars) {
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_utf8(s) && dumps_strictly(s));
    FOGBRIDGE_FUZZ_CHECK(fogbridge::utf8_length(s) <= max_chars);
    FOGBRIDGE_FUZZ_CHECK(!has_control(s));
}

void check_reading(const reading& r, std::string_view device, const decode_settings& s) {
    FOGBRIDGE_FUZZ_CHECK(r.device == device);
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_id(r.sensor) && dumps_strictly(r.sensor));
    FOGBRIDGE_FUZZ_CHECK(std::isfinite(r.value));
    FOGBRIDGE_FUZZ_CHECK(std::isfinite(r.ts) && in_window(r.ts, s));
    FOGBRIDGE_FUZZ_CHECK(r.boot <= max_safe);
    FOGBRIDGE_FUZZ_CHECK(r.seq >= 1 && r.seq <= max_safe);
    check_text(r.unit, 16);
}

void check_alert(const alert& a, std::string_view device, const decode_settings& s) {
    FOGBRIDGE_FUZZ_CHECK(a.device == device);
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_id(a.sensor));
    FOGBRIDGE_FUZZ_CHECK(std::isfinite(a.value));
    FOGBRIDGE_FUZZ_CHECK(!a.threshold || std::isfinite(*a.threshold));
    FOGBRIDGE_FUZZ_CHECK(std::isfinite(a.ts) && in_window(a.ts, s));
    FOGBRIDGE_FUZZ_CHECK(a.boot <= max_safe);
    FOGBRIDGE_FUZZ_CHECK(!a.seq || (*a.seq >= 1 && *a.seq <= max_safe));
    check_text(a.unit, 16);
    check_text(a.rule, 64);
}

// The decoders

// Top-level element count of the payload by an independent parse, when it parses.
std::optional<std::size_t> independent_count(std::string_view payload) {
    const auto doc = json::parse(payload.begin(), payload.end(), nullptr, false);
    if (doc.is_discarded()) return std::nullopt;
    return doc.is_array() ? doc.size() : 1;
}

// ---------------------------------------------------------------------------------------------
// The fast path of decode_readings against its DOM path

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same_decoded(const fogbridge::decoded_readings& a, const fogbridge::decoded_readings& b) {
    if (a.readings.size() != b.readings.size() || a.rejects.size() != b.rejects.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.readings.size(); ++i) {
        const auto& x = a.readings[i];
        const auto& y = b.readings[i];
        if (x.device != y.device || x.sensor != y.sensor || !same_bits(x.value, y.value) ||
            x.unit != y.unit || !same_bits(x.ts, y.ts) || x.boot != y.boot || x.seq != y.seq) {
            return false;
        }
    }
    for (std::size_t i = 0; i < a.rejects.size(); ++i) {
        const auto& x = a.rejects[i];
        const auto& y = b.rejects[i];
        if (x.reason != y.reason || x.detail != y.detail || x.index != y.index ||
            x.boot != y.boot || x.seq != y.seq) {
            return false;
        }
    }
    return true;
}

// Whatever path decode_readings took, the result is the DOM path's, bit for bit; and the fast
// path only ever decodes (it leaves every rejection to the DOM path).
void check_fast_path(std::string_view device, std::string_view payload, const decode_settings& s,
                     const fogbridge::decoded_readings& out) {
    const auto dom = fogbridge::dom_decode_readings({.device = device, .payload = payload}, now, s);
    FOGBRIDGE_FUZZ_CHECK(same_decoded(out, dom));
    if (const auto fast =
            fogbridge::fast_decode_readings({.device = device, .payload = payload}, now, s)) {
        FOGBRIDGE_FUZZ_CHECK(fast->rejects.empty());
        FOGBRIDGE_FUZZ_CHECK(same_decoded(*fast, dom));
    }
}

// With `sample`, also checks the reject payload built from the input; it is the same under every
// set of limits, so once per input is enough.
fogbridge::decoded_readings fuzz_readings(std::string_view device, std::string_view payload,
                                          const decode_settings& s, bool sample) {
    auto out = fogbridge::decode_readings({.device = device, .payload = payload}, now, s);
    check_fast_path(device, payload, s, out);
    for (const auto& r : out.readings) check_reading(r, device, s);
    for (const auto& r : out.rejects) check_rejection(r);
    // Every rejection of one message carries the same payload sample.
    if (sample && !out.rejects.empty()) check_reject_sample(payload, out.rejects.front());
    if (payload.size() > s.max_payload_bytes) {
        FOGBRIDGE_FUZZ_CHECK(out.rejects.size() == 1 &&
                             out.rejects[0].reason == reject_reason::too_large);
    } else if (!fogbridge::valid_utf8(payload)) {
        FOGBRIDGE_FUZZ_CHECK(out.rejects.size() == 1 &&
                             out.rejects[0].reason == reject_reason::invalid_utf8);
    }
    const bool whole = !out.rejects.empty() && whole_message(out.rejects[0].reason);
    if (whole) {
        FOGBRIDGE_FUZZ_CHECK(out.readings.empty() && out.rejects.size() == 1);
        FOGBRIDGE_FUZZ_CHECK(!out.rejects[0].index && !out.rejects[0].boot);
    }
    const auto count = independent_count(payload);
    if (count && !whole) {
        // Every element is accounted for: a reading or a rejection, never both, never lost.
        FOGBRIDGE_FUZZ_CHECK(out.readings.size() + out.rejects.size() == *count);
    }
    if (count && payload.size() <= s.max_payload_bytes) {
        // What any JSON parser accepts is never called malformed.
        FOGBRIDGE_FUZZ_CHECK(out.rejects.empty() ||
                             out.rejects[0].reason != reject_reason::bad_json);
    }
    std::optional<std::size_t> last_index;
    for (const auto& r : out.rejects) {
        if (!r.index) {
            FOGBRIDGE_FUZZ_CHECK(out.rejects.size() == 1 && out.readings.empty());
            continue;
        }
        FOGBRIDGE_FUZZ_CHECK(!last_index || *r.index > *last_index);
        FOGBRIDGE_FUZZ_CHECK(*r.index < out.readings.size() + out.rejects.size());
        last_index = r.index;
    }
    check_batch_round_trip(out.readings);
    return out;
}

void fuzz_alert(std::string_view device, std::string_view payload, const decode_settings& s,
                bool sample) {
    const auto out = fogbridge::decode_alert({.device = device, .payload = payload}, now, s);
    if (const auto* r = std::get_if<rejection>(&out)) {
        check_rejection(*r);
        FOGBRIDGE_FUZZ_CHECK(!r->index);
        if (sample) check_reject_sample(payload, *r);
        return;
    }
    const auto& a = std::get<alert>(out);
    check_alert(a, device, s);
    check_alert_round_trip(a);
}

void fuzz_status(std::string_view payload, const decode_settings& s) {
    const auto out = fogbridge::decode_status(payload, s);
    if (const auto* r = std::get_if<rejection>(&out)) {
        check_rejection(*r);
        return;
    }
    const auto status = std::get<fogbridge::device_status>(out);
    FOGBRIDGE_FUZZ_CHECK(payload.size() <= s.max_payload_bytes);
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_utf8(payload));
    if (status == fogbridge::device_status::cleared) {
        FOGBRIDGE_FUZZ_CHECK(payload.empty());
    } else {
        FOGBRIDGE_FUZZ_CHECK(payload.find(fogbridge::to_string(status)) != std::string_view::npos);
    }
}

bool holds_marker(const json& v) {
    if (fogbridge::is_marker(v)) return true;
    if (!v.is_structured()) return false;
    return std::any_of(v.begin(), v.end(), [](const json& c) { return holds_marker(c); });
}

// Device health: what is relayed is the document a strict parser reads from the payload, as
// compact JSON that re-encodes to itself, naming no other device, with every number finite.
void fuzz_health(std::string_view device, std::string_view payload, const decode_settings& s,
                 bool sample) {
    const auto out = fogbridge::decode_health({.device = device, .payload = payload}, now, s);
    if (const auto* r = std::get_if<rejection>(&out)) {
        check_rejection(*r);
        FOGBRIDGE_FUZZ_CHECK(!r->index && !r->boot);
        if (sample) check_reject_sample(payload, *r);
        return;
    }
    const auto& text = std::get<fogbridge::device_health>(out).json;
    FOGBRIDGE_FUZZ_CHECK(payload.size() <= s.max_payload_bytes);
    FOGBRIDGE_FUZZ_CHECK(fogbridge::valid_utf8(payload) && fogbridge::valid_utf8(text));
    const auto strict = json::parse(payload, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(!strict.is_discarded() && strict.is_object());
    const auto doc = json::parse(text, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(!doc.is_discarded() && doc == strict);
    FOGBRIDGE_FUZZ_CHECK(doc.dump() == text);
    FOGBRIDGE_FUZZ_CHECK(!holds_marker(doc));
    if (doc.contains("device") && !doc["device"].is_null())
        FOGBRIDGE_FUZZ_CHECK(doc["device"] == device);
    for (const char* name : {"battery", "uptime_s", "rssi", "cpu", "memory", "ts"}) {
        if (doc.contains(name)) FOGBRIDGE_FUZZ_CHECK(doc[name].is_number() || doc[name].is_null());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view data(reinterpret_cast<const char*>(bytes), size);
    static const auto settings = all_settings();

    check_topic(data);
    const auto from_topic = check_topic(derive_topic(data));
    const std::string device = from_topic.value_or(std::string(default_device));

    for (const auto& s : settings) {
        const bool first = &s == &settings.front();
        const auto decoded = fuzz_readings(device, data, s, first);
        fuzz_processor_marks(decoded, device);
        fuzz_alert(device, data, s, first);
        fuzz_status(data, s);
        fuzz_health(device, data, s, first);
    }
    check_string_round_trip(data);
    fuzz_tracker(data);
    return 0;
}
