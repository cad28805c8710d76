// The decode fuzz target's round trips: batches, alerts and strings through the gateway's encoders
// and back through an independent JSON parser (nlohmann::json).
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch.hpp"
#include "batch/json_write.hpp"
#include "decode_fuzz.hpp"
#include "validate/utf8.hpp"

namespace fogbridge_fuzz {

using fogbridge::alert;
using fogbridge::reading;
using nlohmann::json;

namespace {

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

}  // namespace

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

}  // namespace fogbridge_fuzz
