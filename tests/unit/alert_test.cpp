#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "validate/decode.hpp"

using fogbridge::alert;
using fogbridge::decode_settings;
using fogbridge::reject_reason;
using nlohmann::json;

namespace {

constexpr double now = 1732630000.0;

json good_alert() {
    return {{"sensor", "temperature"}, {"value", 31.2}, {"threshold", 30}, {"unit", "C"},
            {"rule", "temp-high"},     {"ts", now},     {"boot", 7},       {"seq", 1043}};
}

std::variant<alert, fogbridge::rejection> decode(const json& j) {
    return fogbridge::decode_alert({.device = "d1", .payload = j.dump()}, now, decode_settings{});
}

template <class T>
reject_reason reason(const std::variant<T, fogbridge::rejection>& r) {
    REQUIRE(std::holds_alternative<fogbridge::rejection>(r));
    return std::get<fogbridge::rejection>(r).reason;
}

json with(const char* key, json value) {
    auto j = good_alert();
    j[key] = std::move(value);
    return j;
}

}  // namespace

TEST_CASE("a good alert decodes to exact values") {
    const auto r = decode(good_alert());
    REQUIRE(std::holds_alternative<alert>(r));
    CHECK(std::get<alert>(r) ==
          alert{"d1", "temperature", 31.2, 30.0, "C", "temp-high", now, 7, 1043});
}

TEST_CASE("alert: seq, threshold, unit and rule are optional") {
    auto j = good_alert();
    for (const char* k : {"seq", "threshold", "unit", "rule"}) j.erase(k);
    const auto r = decode(j);
    REQUIRE(std::holds_alternative<alert>(r));
    CHECK(std::get<alert>(r) == alert{"d1", "temperature", 31.2, {}, "", "", now, 7, {}});
}

TEST_CASE("alert: bad fields are refused with the same reasons as readings") {
    auto j = good_alert();
    j.erase("boot");
    CHECK(reason(decode(j)) == reject_reason::missing_field);
    CHECK(reason(decode(with("seq", 0))) == reject_reason::bad_seq);
    CHECK(reason(decode(with("threshold", "30"))) == reject_reason::wrong_type);
    CHECK(reason(decode(with("value", nullptr))) == reject_reason::not_finite);
    CHECK(reason(decode(with("rule", std::string(65, 'r')))) == reject_reason::wrong_type);
    CHECK(reason(decode(with("sensor", "a+b"))) == reject_reason::bad_id);
    CHECK(reason(decode(with("device", "d2"))) == reject_reason::device_mismatch);
    CHECK(reason(decode(with("ts", now + 301))) == reject_reason::ts_out_of_window);
    CHECK(reason(decode(json::array({good_alert()}))) == reject_reason::not_object);
    CHECK(reason(fogbridge::decode_alert({.device = "d1", .payload = "{"}, now, {})) ==
          reject_reason::bad_json);
    const auto r = decode(with("value", "x"));
    CHECK(std::get<fogbridge::rejection>(r).seq == 1043u);
}

TEST_CASE("status is exactly online or offline") {
    using fogbridge::decode_status;
    using fogbridge::device_status;
    const decode_settings s;
    CHECK(std::get<device_status>(decode_status("online", s)) == device_status::online);
    CHECK(std::get<device_status>(decode_status("offline", s)) == device_status::offline);
    CHECK(std::get<device_status>(decode_status(" online\r\n", s)) == device_status::online);
    // An empty payload deletes a retained status: not an error.
    CHECK(std::get<device_status>(decode_status("", s)) == device_status::cleared);
    for (const char* p : {" ", "ONLINE", "on line", "\"online\"", "{}", "onlinex"}) {
        CAPTURE(p);
        CHECK(reason(decode_status(p, s)) == reject_reason::wrong_type);
    }
    CHECK(reason(decode_status(std::string(s.max_payload_bytes + 1, ' '), s)) ==
          reject_reason::too_large);
    CHECK(reason(decode_status(std::string(100, '\xff'), s)) == reject_reason::invalid_utf8);
    CHECK(reason(decode_status("online\xc0\xaf", s)) == reject_reason::invalid_utf8);
    CHECK(fogbridge::to_string(device_status::offline) == "offline");
}

TEST_CASE("an alert with a NaN literal is not_finite, naming the field") {
    const auto r = fogbridge::decode_alert(
        {.device = "d1",
         .payload = R"({"sensor":"t","value":NaN,"ts":1732630000,"boot":7,"seq":2})"},
        now, {});
    CHECK(reason(r) == reject_reason::not_finite);
    CHECK(std::get<fogbridge::rejection>(r).detail.find("'value'") != std::string::npos);
}
