#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "validate/decode.hpp"
#include "validate/topic.hpp"
#include "validate/utf8.hpp"

using fogbridge::decode_readings;
using fogbridge::decode_settings;
using fogbridge::reading;
using fogbridge::reject_reason;
using nlohmann::json;

namespace {

constexpr double now = 1732630000.0;
constexpr std::uint64_t two_53 = std::uint64_t{1} << 53;

json good() {
    return {{"sensor", "temperature"}, {"value", 21.37}, {"unit", "C"},
            {"ts", 1732630000.123},    {"boot", 7},      {"seq", 1042}};
}

fogbridge::decoded_readings decode(const std::string& payload, const decode_settings& s = {}) {
    return decode_readings({.device = "d1", .payload = payload}, now, s);
}

fogbridge::decoded_readings decode(const char* payload, const decode_settings& s = {}) {
    return decode(std::string(payload), s);
}

fogbridge::decoded_readings decode(const json& j, const decode_settings& s = {}) {
    return decode(j.dump(), s);
}

// The reason of the single rejection a payload gets, checking that nothing was decoded.
reject_reason only_reject(const fogbridge::decoded_readings& d) {
    REQUIRE(d.readings.empty());
    REQUIRE(d.rejects.size() == 1);
    return d.rejects[0].reason;
}

json with(std::string_view key, json value) {
    auto j = good();
    j[std::string(key)] = std::move(value);
    return j;
}

json without(std::string_view key) {
    auto j = good();
    j.erase(std::string(key));
    return j;
}

}  // namespace

TEST_CASE("valid_id accepts 1..64 characters of [A-Za-z0-9_.:-] only") {
    CHECK(fogbridge::valid_id("d1"));
    CHECK(fogbridge::valid_id("Board_7.kitchen:temp-2"));
    CHECK(fogbridge::valid_id(std::string(64, 'a')));
    CHECK_FALSE(fogbridge::valid_id(""));
    CHECK_FALSE(fogbridge::valid_id(std::string(65, 'a')));
    for (const char* bad :
         {"a+b", "a#", "a/b", "a b", "a\tb", "a\nb", "caf\xc3\xa9", "a*", "a\"b"}) {
        CHECK_FALSE(fogbridge::valid_id(bad));
    }
    CHECK_FALSE(fogbridge::valid_id(std::string_view("a\0b", 3)));
}

TEST_CASE("parse_device_topic knows the four device topics") {
    using fogbridge::device_topic;
    using fogbridge::topic_kind;
    CHECK(fogbridge::parse_device_topic("devices/d1/readings") ==
          device_topic{"d1", topic_kind::readings});
    CHECK(fogbridge::parse_device_topic("devices/d1/alerts") ==
          device_topic{"d1", topic_kind::alerts});
    CHECK(fogbridge::parse_device_topic("devices/d1/status") ==
          device_topic{"d1", topic_kind::status});
    CHECK(fogbridge::parse_device_topic("devices/board-7.a:b_c/health") ==
          device_topic{"board-7.a:b_c", topic_kind::health});
    CHECK(fogbridge::to_string(topic_kind::health) == "health");
}

TEST_CASE("parse_device_topic refuses other topics and bad ids, telling which") {
    for (const char* t : {"devices/d+1/readings", "devices/#/readings", "devices/+/readings",
                          "devices/a/b/readings", "devices//readings", "devices/a b/status"}) {
        CAPTURE(t);
        CHECK_FALSE(fogbridge::parse_device_topic(t));
        CHECK(fogbridge::topic_reject_reason(t) == reject_reason::bad_id);
    }
    for (const char* t :
         {"devices/d1/ack", "devices/d1", "devices/d1/readings/", "device/d1/readings",
          "gateways/gw/status", "", "devices/", "Devices/d1/readings"}) {
        CAPTURE(t);
        CHECK_FALSE(fogbridge::parse_device_topic(t));
        CHECK(fogbridge::topic_reject_reason(t) == reject_reason::unknown_topic);
    }
}

TEST_CASE("reject reasons have stable snake_case names") {
    using fogbridge::to_string;
    CHECK(to_string(reject_reason::too_large) == "too_large");
    CHECK(to_string(reject_reason::invalid_utf8) == "invalid_utf8");
    CHECK(to_string(reject_reason::bad_json) == "bad_json");
    CHECK(to_string(reject_reason::too_deep) == "too_deep");
    CHECK(to_string(reject_reason::not_object) == "not_object");
    CHECK(to_string(reject_reason::missing_field) == "missing_field");
    CHECK(to_string(reject_reason::wrong_type) == "wrong_type");
    CHECK(to_string(reject_reason::not_finite) == "not_finite");
    CHECK(to_string(reject_reason::bad_id) == "bad_id");
    CHECK(to_string(reject_reason::device_mismatch) == "device_mismatch");
    CHECK(to_string(reject_reason::ts_out_of_window) == "ts_out_of_window");
    CHECK(to_string(reject_reason::bad_seq) == "bad_seq");
    CHECK(to_string(reject_reason::too_many) == "too_many");
    CHECK(to_string(reject_reason::unknown_topic) == "unknown_topic");
}

TEST_CASE("UTF-8 check refuses overlongs, surrogates, truncation and out-of-range values") {
    using fogbridge::find_invalid_utf8;
    CHECK(fogbridge::valid_utf8("plain ascii"));
    CHECK(fogbridge::valid_utf8(
        "\xc2\xb5g/m\xc2\xb3 \xe2\x82\xac \xf0\x9f\x8c\xa1 \xf4\x8f\xbf\xbf"));
    CHECK(fogbridge::valid_utf8("\xed\x9f\xbf"));        // U+D7FF, just below the surrogates
    CHECK(find_invalid_utf8("ab\xc0\xaf") == 2u);        // overlong '/'
    CHECK(find_invalid_utf8("\xc1\xbf") == 0u);          // overlong
    CHECK(find_invalid_utf8("\xe0\x80\xaf") == 0u);      // overlong, 3 bytes
    CHECK(find_invalid_utf8("\xf0\x80\x80\xaf") == 0u);  // overlong, 4 bytes
    CHECK(find_invalid_utf8("x\xed\xa0\x80") == 1u);     // U+D800
    CHECK(find_invalid_utf8("\xed\xbf\xbf") == 0u);      // U+DFFF
    CHECK(find_invalid_utf8("\xf4\x90\x80\x80") == 0u);  // U+110000
    CHECK(find_invalid_utf8("\xf5\x80\x80\x80") == 0u);
    CHECK(find_invalid_utf8("abc\xe2\x82") == 3u);   // truncated
    CHECK(find_invalid_utf8("\xf0\x9f\x8c") == 0u);  // truncated
    CHECK(find_invalid_utf8("\x80") == 0u);          // stray continuation
    CHECK(find_invalid_utf8("\xe2\x28\xa1") == 0u);  // bad continuation
    CHECK(find_invalid_utf8("\xff") == 0u);
    CHECK(fogbridge::utf8_length("\xc2\xb5g/m\xc2\xb3") == 5u);
}

TEST_CASE("a good reading decodes to exact values, with the topic's device") {
    const auto d = decode(good());
    REQUIRE(d.rejects.empty());
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0] == reading{"d1", "temperature", 21.37, "C", 1732630000.123, 7, 1042});
}

TEST_CASE("optional and unknown fields") {
    auto d = decode(without("unit"));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].unit.empty());

    d = decode(with("unit", nullptr));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].unit.empty());

    d = decode(with("device", "d1"));
    CHECK(d.readings.size() == 1);

    auto extra = good();
    extra["firmware"] = {{"version", "1.2.3"}, {"flags", {1, 2, 3}}};
    extra["rssi"] = -71;
    d = decode(extra);
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].seq == 1042u);

    // An out-of-range number in a field nobody reads is no reason to refuse the reading.
    d = decode(R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":1e400})");
    CHECK(d.readings.size() == 1);
    // But a number is never a key, however large (found by the fuzzer).
    d = decode(R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,-1e400:7,"seq":1})");
    CHECK(only_reject(d) == reject_reason::bad_json);
}

TEST_CASE("unit is at most 16 characters, counted as code points") {
    CHECK(decode(with("unit", std::string(16, 'u'))).readings.size() == 1);
    CHECK(only_reject(decode(with("unit", std::string(17, 'u')))) == reject_reason::wrong_type);
    const auto d = decode(with("unit", "\xc2\xb5g/m\xc2\xb3"));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].unit == "\xc2\xb5g/m\xc2\xb3");
    CHECK(only_reject(decode(with("unit", "C\n"))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("unit", 5))) == reject_reason::wrong_type);
}

TEST_CASE("payload size: exactly at the limit is accepted, one byte over is too_large") {
    decode_settings s;
    const std::string body = good().dump();
    s.max_payload_bytes = body.size() + 10;
    const std::string at = body + std::string(10, ' ');
    CHECK(decode(at, s).readings.size() == 1);
    const auto over = decode(at + " ", s);
    CHECK(only_reject(over) == reject_reason::too_large);
    CHECK(over.rejects[0].detail == fmt::format("payload of {} bytes exceeds the limit of {}",
                                                s.max_payload_bytes + 1, s.max_payload_bytes));
}

TEST_CASE("invalid UTF-8 anywhere in the payload is refused before parsing") {
    CHECK(only_reject(decode("{\"sensor\":\"t\xc0\xaf\",\"value\":1}")) ==
          reject_reason::invalid_utf8);
    CHECK(only_reject(decode("{\"sensor\":\"t\xed\xa0\x80\"}")) == reject_reason::invalid_utf8);
    CHECK(only_reject(decode("{\"sensor\":\"t\xe2\x82")) == reject_reason::invalid_utf8);
    CHECK(only_reject(decode("\xef\xbb\xbf\xff{}")) == reject_reason::invalid_utf8);
    // An escaped lone surrogate is valid UTF-8 text but not valid JSON.
    CHECK(only_reject(decode(R"({"sensor":"\ud800"})")) == reject_reason::bad_json);
}

TEST_CASE("malformed JSON is bad_json") {
    for (const char* p :
         {"", "{", R"({"sensor":)", "{\"a\":1,}", R"({NaN:1})", R"({"value":NaN NaN})", "[1,2",
          "{} {}", "{'a':1}", "{\"a\":01}", "nul", "Nan1", "-", "-x"}) {
        CAPTURE(p);
        CHECK(only_reject(decode(std::string(p))) == reject_reason::bad_json);
    }
    CHECK(decode(std::string("{")).rejects[0].detail == "invalid JSON at byte 2");
}

// What Python's json.dumps, printf and others write for a double that is not finite.
std::string with_literal(std::string_view field, std::string_view literal) {
    auto j = good();
    j[std::string(field)] = "@";
    auto text = j.dump();
    return text.replace(text.find("\"@\""), 3, literal);
}

TEST_CASE("NaN and Infinity literals are not_finite for the field that holds them") {
    for (const char* lit : {"NaN", "Infinity", "-Infinity", "+Infinity", "nan", "-nan", "inf",
                            "-inf", "INF", "infinity"}) {
        CAPTURE(lit);
        const auto d = decode(with_literal("value", lit));
        CHECK(only_reject(d) == reject_reason::not_finite);
        CHECK(d.rejects[0].detail ==
              "field 'value' holds a NaN or Infinity literal, which is not JSON");
        // The reading's (boot, seq) is known, so the device may move past it.
        CHECK(d.rejects[0].seq == 1042u);
    }
    CHECK(only_reject(decode(with_literal("ts", "NaN"))) == reject_reason::not_finite);
    CHECK(only_reject(decode(with_literal("seq", "Infinity"))) == reject_reason::not_finite);
    CHECK(only_reject(decode(with_literal("sensor", "NaN"))) == reject_reason::not_finite);
    CHECK(only_reject(decode(with_literal("unit", "NaN"))) == reject_reason::not_finite);
    // In a field nobody reads it is no reason to refuse the reading (as with 1e400): the field
    // is not stored.
    const auto extra = decode(with_literal("note", R"({"a":[1, NaN]})"));
    REQUIRE(extra.readings.size() == 1);
    CHECK(extra.readings[0].value == 21.37);
    // Only that element of an array.
    const auto array = "[" + with_literal("value", "NaN") + "," + good().dump() + "]";
    const auto d = decode(array);
    REQUIRE(d.rejects.size() == 1);
    CHECK(d.rejects[0].index == 0u);
    CHECK(d.readings.size() == 1);
    // A literal in a key's place, or inside a string, is not one.
    CHECK(only_reject(decode(std::string(R"({NaN:1})"))) == reject_reason::bad_json);
    CHECK(decode(with("note", "NaN, Infinity")).readings.size() == 1);
    CHECK(only_reject(decode(std::string("NaN"))) == reject_reason::not_object);
}

TEST_CASE("nesting: depth at the limit is accepted, one deeper is too_deep") {
    decode_settings s;
    s.max_depth = 4;
    auto at = good();
    at["x"] = {{"y", {{"z", {1}}}}};  // object, x, y, z: 4 levels
    CHECK(decode(at, s).readings.size() == 1);
    auto over = good();
    over["x"] = {{"y", {{"z", {{1}}}}}};
    CHECK(only_reject(decode(over, s)) == reject_reason::too_deep);
    // An array of readings uses one level.
    CHECK(only_reject(decode(json::array({at}), s)) == reject_reason::too_deep);
    // Brackets inside strings do not count.
    CHECK(decode(with("note", "[[[[[[{{{{\\\"]"), s).readings.size() == 1);
    // Very deep input is refused without recursion.
    s.max_payload_bytes = 1U << 20U;
    CHECK(only_reject(decode(std::string(200000, '['), s)) == reject_reason::too_deep);
    CHECK(only_reject(decode(std::string(100000, '{'), s)) == reject_reason::too_deep);
}

TEST_CASE("a payload that is not an object or an array of objects is not_object") {
    for (const char* p : {"42", R"("reading")", "null", "true"}) {
        CAPTURE(p);
        CHECK(only_reject(decode(std::string(p))) == reject_reason::not_object);
    }
    const auto d = decode(std::string("[7]"));
    CHECK(only_reject(d) == reject_reason::not_object);
    CHECK(d.rejects[0].index == 0u);
}

TEST_CASE("each required field missing is missing_field, naming it") {
    for (const char* f : {"sensor", "value", "ts", "boot", "seq"}) {
        CAPTURE(f);
        const auto d = decode(without(f));
        CHECK(only_reject(d) == reject_reason::missing_field);
        CHECK(d.rejects[0].detail == fmt::format("missing field '{}'", f));
    }
}

TEST_CASE("fields of the wrong type are wrong_type") {
    CHECK(only_reject(decode(with("value", "21.3"))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("value", json::array({1})))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("value", true))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("sensor", 5))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("ts", "2024-11-26T14:06:40Z"))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("boot", "7"))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("seq", 7.5))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("boot", 0.5))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("seq", nullptr))) == reject_reason::wrong_type);
    CHECK(only_reject(decode(with("device", 1))) == reject_reason::wrong_type);
    const auto d = decode(with("value", "x"));
    CHECK(d.rejects[0].detail == "field 'value' is not a number");
}

TEST_CASE("integers written as 7.0 are accepted") {
    const auto d = decode(R"({"sensor":"t","value":1,"ts":1732630000,"boot":7.0,"seq":1.0e1})");
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].boot == 7u);
    CHECK(d.readings[0].seq == 10u);
    CHECK(decode(with("boot", -0.0)).readings.size() == 1);
}

TEST_CASE("values that are not finite are not_finite") {
    for (const char* v : {"1e400", "-1e400", "1" /* 400 digits below */, R"("NaN")",
                          R"("Infinity")", R"("-Infinity")", "null"}) {
        std::string value = v;
        if (value == "1") value = "1" + std::string(400, '0');
        const auto p =
            R"({"sensor":"t","value":)" + value + R"(,"ts":1732630000,"boot":1,"seq":5})";
        CAPTURE(value);
        const auto d = decode(p);
        CHECK(only_reject(d) == reject_reason::not_finite);
        CHECK(d.rejects[0].seq == 5u);
    }
    CHECK(only_reject(decode(R"({"sensor":"t","value":1,"ts":1e999,"boot":1,"seq":5})")) ==
          reject_reason::not_finite);
    // The largest double is fine; tiny values round to zero as JSON readers do.
    CHECK(decode(with("value", 1.7976931348623157e308)).readings.size() == 1);
    const auto tiny = decode(R"({"sensor":"t","value":1e-400,"ts":1732630000,"boot":1,"seq":5})");
    REQUIRE(tiny.readings.size() == 1);
    CHECK(tiny.readings[0].value == 0.0);
}

TEST_CASE("sensor names follow the id rules") {
    for (const std::string& s : {std::string(), std::string("a b"), std::string("temp+1"),
                                 std::string("t#"), std::string("a/b"), std::string(65, 's')}) {
        CAPTURE(s);
        CHECK(only_reject(decode(with("sensor", s))) == reject_reason::bad_id);
    }
    CHECK(decode(with("sensor", std::string(64, 's'))).readings.size() == 1);
}

TEST_CASE("a payload that names another device is device_mismatch") {
    const auto d = decode(with("device", "d2"));
    CHECK(only_reject(d) == reject_reason::device_mismatch);
    CHECK(d.rejects[0].boot == 7u);
    CHECK(d.rejects[0].seq == 1042u);
    CHECK(only_reject(decode(with("device", ""))) == reject_reason::device_mismatch);
    CHECK(only_reject(decode(with("device", "D1"))) == reject_reason::device_mismatch);
}

TEST_CASE("ts must lie within the window around the gateway clock, edges included") {
    const decode_settings s;
    CHECK(decode(with("ts", now + s.max_future_s), s).readings.size() == 1);
    CHECK(decode(with("ts", now - s.max_past_s), s).readings.size() == 1);
    CHECK(only_reject(decode(with("ts", now + s.max_future_s + 0.001), s)) ==
          reject_reason::ts_out_of_window);
    CHECK(only_reject(decode(with("ts", now - s.max_past_s - 0.001), s)) ==
          reject_reason::ts_out_of_window);
    CHECK(only_reject(decode(with("ts", 0), s)) == reject_reason::ts_out_of_window);
    const auto d = decode(with("ts", 1e300), s);
    CHECK(d.rejects[0].detail.size() < 80);
}

TEST_CASE("boot and seq ranges: seq 1..2^53-1, boot 0..2^53-1") {
    CHECK(only_reject(decode(with("seq", 0))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(with("seq", -1))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(with("seq", two_53))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(with("seq", 1e300))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(
              std::string(R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1e400})"))) ==
          reject_reason::bad_seq);
    CHECK(
        only_reject(decode(std::string(
            R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":18446744073709551616})"))) ==
        reject_reason::bad_seq);
    CHECK(only_reject(decode(with("boot", two_53))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(with("boot", -1))) == reject_reason::bad_seq);
    CHECK(only_reject(decode(with("seq", -0.0))) == reject_reason::bad_seq);

    auto d = decode(with("seq", two_53 - 1));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].seq == two_53 - 1);
    d = decode(with("boot", two_53 - 1));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].boot == two_53 - 1);
    d = decode(with("boot", 0));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].boot == 0u);
    d = decode(with("seq", 1));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].seq == 1u);
}

TEST_CASE("a rejection carries boot and seq only when both were valid") {
    auto d = decode(with("value", "x"));
    CHECK(d.rejects[0].boot == 7u);
    CHECK(d.rejects[0].seq == 1042u);
    d = decode(with("seq", 0));
    CHECK_FALSE(d.rejects[0].boot);
    CHECK_FALSE(d.rejects[0].seq);
    d = decode(without("boot"));
    CHECK_FALSE(d.rejects[0].seq);
}

TEST_CASE("arrays: good elements are decoded, each bad one is rejected with its index") {
    auto second = good();
    second["seq"] = 1043;
    auto a = json::array({good(), with("value", "x"), 5, second, with("seq", 0)});
    const auto d = decode(a);
    REQUIRE(d.readings.size() == 2);
    CHECK(d.readings[0].seq == 1042u);
    CHECK(d.readings[1].seq == 1043u);
    REQUIRE(d.rejects.size() == 3);
    CHECK(d.rejects[0].reason == reject_reason::wrong_type);
    CHECK(d.rejects[0].index == 1u);
    CHECK(d.rejects[0].detail == "element 1: field 'value' is not a number");
    CHECK(d.rejects[0].seq == 1042u);
    CHECK(d.rejects[1].reason == reject_reason::not_object);
    CHECK(d.rejects[1].index == 2u);
    CHECK(d.rejects[2].reason == reject_reason::bad_seq);
    CHECK(d.rejects[2].index == 4u);

    const auto empty = decode(json::array());
    CHECK(empty.readings.empty());
    CHECK(empty.rejects.empty());
}

TEST_CASE("an array over max_readings_per_message is too_many, at the limit is fine") {
    decode_settings s;
    s.max_readings_per_message = 3;
    CHECK(decode(json::array({good(), good(), good()}), s).readings.size() == 3);
    CHECK(only_reject(decode(json::array({good(), good(), good(), good()}), s)) ==
          reject_reason::too_many);
}

TEST_CASE("with duplicate keys the last one wins") {
    const auto d = decode(
        std::string(R"({"sensor":"t","value":1,"value":2,"ts":1732630000,"boot":1,"seq":5})"));
    REQUIRE(d.readings.size() == 1);
    CHECK(d.readings[0].value == 2.0);
}

TEST_CASE("details stay short whatever the input") {
    const std::string huge(20000, 'x');
    for (const auto& j : {with("sensor", huge), with("unit", huge), with("device", huge),
                          with("value", huge), with(huge, huge)}) {
        for (const auto& r : decode(j).rejects) CHECK(r.detail.size() < 100);
    }
    CHECK(decode(R"({"sensor":")" + huge).rejects[0].detail.size() < 100);
}
