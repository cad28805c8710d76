// libFuzzer target: device payload decoding and validation (readings, alerts, status, health,
// topics; the readings' fast path against their DOM path),
// the sequence tracker against a model, and the batch/alert encoders' round trip through a JSON
// parser. A crash, a sanitizer report or a broken invariant (abort) is a finding.
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
#include "batch/json_write.hpp"
#include "validate/decode.hpp"
#include "validate/fast_reading.hpp"
#include "validate/payload.hpp"
#include "validate/sequence.hpp"
#include "validate/topic.hpp"
#include "validate/utf8.hpp"

#define FOGBRIDGE_FUZZ_STR2(x) #x
#define FOGBRIDGE_FUZZ_STR(x) FOGBRIDGE_FUZZ_STR2(x)
// Not assert(): it must hold in every build type.
#define FOGBRIDGE_FUZZ_CHECK(cond)                                                        \
    do {                                                                                  \
        if (!(cond)) broken(#cond " (decode_fuzz.cpp:" FOGBRIDGE_FUZZ_STR(__LINE__) ")"); \
    } while (false)

namespace {

using fogbridge::alert;
using fogbridge::decode_settings;
using fogbridge::reading;
using fogbridge::reject_reason;
using fogbridge::rejection;
using nlohmann::json;

constexpr std::uint64_t max_safe = (std::uint64_t{1} << 53) - 1;
constexpr double now = 1.7e9;  // the gateway clock; fixed so that every run is reproducible
constexpr std::string_view default_device = "sensor-01";

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fogbridge fuzz: invariant broken: %s\n", what);
    std::abort();
}

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

// ---------------------------------------------------------------------------------------------
// Round trip through the encoders and an independent JSON parser

// Same double, bit for bit (so -0.0 stays -0.0).
bool same_double(const json& j, double v) {
    if (!j.is_number()) return false;
    const auto got = j.get<double>();
    return std::memcmp(&got, &v, sizeof v) == 0;
}

bool same_uint(const json& j, std::uint64_t v) {
    return j.is_number_unsigned() && j.get<std::uint64_t>() == v;
}

bool same_text(const json& object, const char* key, const std::string& v) {
    if (v.empty()) return !object.contains(key);
    return object.contains(key) && object[key].is_string() && object[key].get<std::string>() == v;
}

void check_batch_round_trip(const std::vector<reading>& readings) {
    if (readings.empty()) return;
    std::vector<fogbridge::seq_range> ranges;
    for (const auto& r : readings) ranges.push_back({r.device, r.boot, r.seq, r.seq});
    const std::vector<reading> none;
    const std::vector<fogbridge::seq_range> no_ranges;
    const auto text = fogbridge::encode_batch({"gw-01", "b-1", now, true, readings, ranges});
    const auto doc = json::parse(text, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(!doc.is_discarded());
    const auto& got = doc.at("readings");
    FOGBRIDGE_FUZZ_CHECK(got.is_array() && got.size() == readings.size());
    std::size_t sizes = 0;
    for (std::size_t i = 0; i < readings.size(); ++i) {
        const auto& r = readings[i];
        const auto& j = got[i];
        FOGBRIDGE_FUZZ_CHECK(j.at("device").get<std::string>() == r.device);
        FOGBRIDGE_FUZZ_CHECK(j.at("sensor").get<std::string>() == r.sensor);
        FOGBRIDGE_FUZZ_CHECK(same_text(j, "unit", r.unit));
        FOGBRIDGE_FUZZ_CHECK(same_double(j.at("value"), r.value));
        FOGBRIDGE_FUZZ_CHECK(same_double(j.at("ts"), r.ts));
        FOGBRIDGE_FUZZ_CHECK(same_uint(j.at("boot"), r.boot));
        FOGBRIDGE_FUZZ_CHECK(same_uint(j.at("seq"), r.seq));
        sizes += fogbridge::encoded_size(r);
        const auto& range = doc.at("ranges").at(i);
        FOGBRIDGE_FUZZ_CHECK(range.at("device").get<std::string>() == r.device);
        FOGBRIDGE_FUZZ_CHECK(same_uint(range.at("boot"), r.boot));
        FOGBRIDGE_FUZZ_CHECK(same_uint(range.at("first"), r.seq) &&
                             same_uint(range.at("last"), r.seq));
        const auto ack = json::parse(fogbridge::encode_ack(r.boot, r.seq), nullptr, false);
        FOGBRIDGE_FUZZ_CHECK(ack == json({{"boot", r.boot}, {"seq", r.seq}}));
    }
    FOGBRIDGE_FUZZ_CHECK(doc.at("replay") == true && same_double(doc.at("created"), now));
    // encoded_size (what the batch policy counts) is exactly what the encoder writes.
    const auto bare = fogbridge::encode_batch({"gw-01", "b-1", now, true, readings, no_ranges});
    const auto empty = fogbridge::encode_batch({"gw-01", "b-1", now, true, none, no_ranges});
    FOGBRIDGE_FUZZ_CHECK(bare.size() == empty.size() + sizes - 1);
}

// The string writer on its own, with any valid UTF-8 (gateway ids and batch ids take this path
// too, and the decoder never lets control characters reach it).
void check_string_round_trip(std::string_view data) {
    if (!fogbridge::valid_utf8(data)) return;
    std::string out;
    fogbridge::append_json_string(out, data);
    FOGBRIDGE_FUZZ_CHECK(out.size() == fogbridge::json_string_size(data));
    const auto back = json::parse(out, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(back.is_string() && back.get<std::string>() == data);
}

void check_alert_round_trip(const alert& a) {
    const auto text = fogbridge::encode_alert("gw-01", a);
    const auto j = json::parse(text, nullptr, false);
    FOGBRIDGE_FUZZ_CHECK(!j.is_discarded() && j.is_object());
    FOGBRIDGE_FUZZ_CHECK(j.at("device").get<std::string>() == a.device);
    FOGBRIDGE_FUZZ_CHECK(j.at("sensor").get<std::string>() == a.sensor);
    FOGBRIDGE_FUZZ_CHECK(same_text(j, "unit", a.unit));
    FOGBRIDGE_FUZZ_CHECK(same_text(j, "rule", a.rule));
    FOGBRIDGE_FUZZ_CHECK(same_double(j.at("value"), a.value));
    FOGBRIDGE_FUZZ_CHECK(a.threshold ? same_double(j.at("threshold"), *a.threshold)
                                     : !j.contains("threshold"));
    FOGBRIDGE_FUZZ_CHECK(same_double(j.at("ts"), a.ts));
    FOGBRIDGE_FUZZ_CHECK(same_uint(j.at("boot"), a.boot));
    FOGBRIDGE_FUZZ_CHECK(a.seq ? same_uint(j.at("seq"), *a.seq) : !j.contains("seq"));
}

// ---------------------------------------------------------------------------------------------
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
    const auto dom = fogbridge::dom_decode_readings(device, payload, now, s);
    FOGBRIDGE_FUZZ_CHECK(same_decoded(out, dom));
    if (const auto fast = fogbridge::fast_decode_readings(device, payload, now, s)) {
        FOGBRIDGE_FUZZ_CHECK(fast->rejects.empty());
        FOGBRIDGE_FUZZ_CHECK(same_decoded(*fast, dom));
    }
}

// With `sample`, also checks the reject payload built from the input; it is the same under every
// set of limits, so once per input is enough.
fogbridge::decoded_readings fuzz_readings(std::string_view device, std::string_view payload,
                                          const decode_settings& s, bool sample) {
    auto out = fogbridge::decode_readings(device, payload, now, s);
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
    const auto out = fogbridge::decode_alert(device, payload, now, s);
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
    const auto out = fogbridge::decode_health(device, payload, now, s);
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

// ---------------------------------------------------------------------------------------------
// The sequence tracker

// What the tracker promises for one device without evictions: the contiguous mark is the highest
// c such that every seq 1..c was processed (marked), given up (a returned gap) or restored.
class tracker_model final {
  public:
    static constexpr std::uint64_t limit = 256;  // seqs used with the model stay below this

    explicit tracker_model(std::size_t max_pending) : max_pending_(max_pending) {}

    void marked(std::uint64_t boot, std::uint64_t seq) { cover(series_[boot], seq); }
    void given_up(std::uint64_t boot, fogbridge::seq_gap gap) {
        auto& m = series_[boot];
        for (auto s = gap.first; s <= gap.last; ++s) cover(m, s);
    }
    void restored(std::uint64_t boot, std::uint64_t c) {
        auto& m = series_[boot];
        if (c <= m.mark) return;
        m.mark = c;  // 1..c are covered now
        m.above.erase(m.above.begin(), m.above.upper_bound(c));
        extend(m);
    }
    void touched(std::uint64_t boot) { series_[boot]; }

    std::uint64_t contiguous(std::uint64_t boot) const {
        const auto it = series_.find(boot);
        return it == series_.end() ? 0 : it->second.mark;
    }
    std::size_t pending(std::uint64_t boot) const {
        const auto it = series_.find(boot);
        return it == series_.end() ? 0 : it->second.above.size();
    }
    bool processed(std::uint64_t boot, std::uint64_t seq) const {
        const auto it = series_.find(boot);
        if (it == series_.end()) return seq == 0;
        return seq <= it->second.mark || it->second.above.contains(seq);
    }
    std::size_t max_pending() const { return max_pending_; }

  private:
    // Covered seqs: 1..mark, and those in `above` (all greater than mark + 1).
    struct series {
        std::uint64_t mark = 0;
        std::set<std::uint64_t> above;
    };
    static void cover(series& m, std::uint64_t seq) {
        if (seq <= m.mark) return;
        m.above.insert(seq);
        extend(m);
    }
    static void extend(series& m) {
        while (m.above.erase(m.mark + 1) == 1) ++m.mark;
    }

    std::size_t max_pending_;
    std::map<std::uint64_t, series> series_;
};

void check_against_model(const fogbridge::sequence_tracker& t, const tracker_model& m,
                         const std::string& device, std::uint64_t boot) {
    FOGBRIDGE_FUZZ_CHECK(t.contiguous(device, boot) == m.contiguous(boot));
    FOGBRIDGE_FUZZ_CHECK(t.pending(device, boot) == m.pending(boot));
    FOGBRIDGE_FUZZ_CHECK(t.pending(device, boot) <= m.max_pending());
}

// Drives a tracker with operations read from the input, three bytes each (the first
// max_tracker_ops of them, which keeps the model cheap). Device "m" stays
// within the model's limits (3 boots, small seqs, no eviction) and is checked after every step;
// device "x" takes any seq up to 2^53-1 and more boots than it may remember, and must only keep
// its basic promises.
void fuzz_tracker(std::string_view data) {
    constexpr std::size_t max_tracker_ops = 200;
    constexpr std::size_t max_pending = 8;
    data = data.substr(0, 3 * max_tracker_ops);
    fogbridge::sequence_tracker t({max_pending, 4});
    tracker_model model(max_pending);
    const std::string m = "m";
    const std::string x = "x";
    std::map<std::uint64_t, bool> moved;  // model device: boots whose mark moved since take_dirty
    std::vector<std::uint64_t> moved_order;
    const auto note_move = [&](std::uint64_t boot, std::uint64_t before) {
        if (t.contiguous(m, boot) == before || moved[boot]) return;
        moved[boot] = true;
        moved_order.push_back(boot);
    };
    for (std::size_t i = 0; i + 3 <= data.size(); i += 3) {
        const auto op = static_cast<unsigned char>(data[i]);
        const auto b1 = static_cast<unsigned char>(data[i + 1]);
        const auto b2 = static_cast<unsigned char>(data[i + 2]);
        const std::uint64_t boot = (op >> 4U) % 3U;
        const std::uint64_t seq = (b1 | (std::uint64_t{b2} << 8U)) % tracker_model::limit;
        const auto before = t.contiguous(m, boot);
        switch (op % 8U) {
            case 0:
            case 1:
            case 2: {  // check, then mark, as the processor does for a reading
                const auto s = seq + 1;
                const auto verdict = t.check(m, boot, s);
                FOGBRIDGE_FUZZ_CHECK((verdict == fogbridge::seq_verdict::duplicate) ==
                                     model.processed(boot, s));
                const auto gap = t.mark(m, boot, s);
                model.marked(boot, s);
                if (gap) {
                    FOGBRIDGE_FUZZ_CHECK(gap->first == before + 1 && gap->first <= gap->last);
                    for (auto g = gap->first; g <= gap->last; ++g) {
                        FOGBRIDGE_FUZZ_CHECK(!model.processed(boot, g));
                    }
                    model.given_up(boot, *gap);
                }
                FOGBRIDGE_FUZZ_CHECK(t.check(m, boot, s) == fogbridge::seq_verdict::duplicate);
                note_move(boot, before);
                break;
            }
            case 3: {
                const auto gap = t.skip_missing(m, boot);
                FOGBRIDGE_FUZZ_CHECK(gap.has_value() == (model.pending(boot) > 0));
                if (gap) {
                    FOGBRIDGE_FUZZ_CHECK(gap->first == before + 1 && gap->first <= gap->last);
                    model.given_up(boot, *gap);
                }
                note_move(boot, before);
                break;
            }
            case 4: {
                t.restore(m, boot, seq);
                model.touched(boot);
                model.restored(boot, seq);
                // Restoring is not news, but pending seqs it lets the mark absorb are.
                if (t.contiguous(m, boot) > std::max(before, seq)) note_move(boot, before);
                break;
            }
            case 5: {
                const auto dirty = t.take_dirty();
                std::vector<std::uint64_t> got;
                for (const auto& [device, b, c] : dirty) {
                    if (device != m) continue;
                    FOGBRIDGE_FUZZ_CHECK(c == model.contiguous(b));
                    got.push_back(b);
                }
                FOGBRIDGE_FUZZ_CHECK(got == moved_order);
                moved.clear();
                moved_order.clear();
                break;
            }
            default: {  // device x: wide seqs, six boots for four places
                const std::uint64_t wide = op & 1U ? max_safe - seq : seq * 0x9E3779B97F4AULL;
                const std::uint64_t xboot = (op >> 4U) % 6U;
                const auto xs = std::clamp<std::uint64_t>(wide, 1, max_safe);
                const auto mark_before = t.contiguous(x, xboot);
                if (op & 2U) {
                    t.restore(x, xboot, xs);
                } else {
                    t.mark(x, xboot, xs);
                    FOGBRIDGE_FUZZ_CHECK(t.check(x, xboot, xs) ==
                                         fogbridge::seq_verdict::duplicate);
                }
                FOGBRIDGE_FUZZ_CHECK(t.contiguous(x, xboot) >= mark_before);
                FOGBRIDGE_FUZZ_CHECK(t.pending(x, xboot) <= max_pending);
                break;
            }
        }
        check_against_model(t, model, m, boot);
    }
}

// Feeds decoded readings and rejections to a tracker the way the processor does.
void fuzz_processor_marks(const fogbridge::decoded_readings& decoded, const std::string& device) {
    fogbridge::sequence_tracker t;
    for (const auto& r : decoded.rejects) {
        if (r.boot && r.seq) t.mark(device, *r.boot, *r.seq);
    }
    for (const auto& r : decoded.readings) {
        if (t.check(r.device, r.boot, r.seq) == fogbridge::seq_verdict::duplicate) continue;
        t.mark(r.device, r.boot, r.seq);
        FOGBRIDGE_FUZZ_CHECK(t.check(r.device, r.boot, r.seq) == fogbridge::seq_verdict::duplicate);
    }
    for (const auto& [d, boot, c] : t.take_dirty()) {
        FOGBRIDGE_FUZZ_CHECK(d == device && c <= max_safe);
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
