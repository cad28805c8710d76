// Device health and status: decoding, and what the processor makes of them (rejects, relays).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "pipeline/processor.hpp"
#include "validate/decode.hpp"

using fogbridge::decode_settings;
using fogbridge::reject_reason;
using fogbridge::upstream_stream;
using fogbridge::urgent_kind;
using nlohmann::json;

namespace {

constexpr double now = 1732630000.0;

std::variant<fogbridge::device_health, fogbridge::rejection> health(const std::string& payload,
                                                                    const decode_settings& s = {}) {
    return fogbridge::decode_health({.device = "d1", .payload = payload}, now, s);
}

reject_reason reason(const std::variant<fogbridge::device_health, fogbridge::rejection>& r) {
    REQUIRE(std::holds_alternative<fogbridge::rejection>(r));
    return std::get<fogbridge::rejection>(r).reason;
}

std::string relayed(const std::string& payload) {
    const auto r = health(payload);
    REQUIRE(std::holds_alternative<fogbridge::device_health>(r));
    return std::get<fogbridge::device_health>(r).json;
}

}  // namespace

TEST_CASE("device health: a good report is relayed re-encoded, extra fields kept") {
    CHECK(relayed(R"({ "battery": 3.9, "uptime_s": 86400, "rssi": -71, "cpu": 12.5,
                       "memory": 48213, "device": "d1", "boot": 7, "ts": 1732630000.5,
                       "firmware": "1.4.2", "radio": {"channel": 11} })") ==
          R"({"battery":3.9,"boot":7,"cpu":12.5,"device":"d1","firmware":"1.4.2","memory":48213,)"
          R"("radio":{"channel":11},"rssi":-71,"ts":1732630000.5,"uptime_s":86400})");
    CHECK(relayed("{}") == "{}");
    // The cloud reads what the gateway checked: with duplicate keys, the last one.
    CHECK(relayed(R"({"device":"d2","device":"d1"})") == R"({"device":"d1"})");
    CHECK(relayed(R"({"note":"caf\u00e9 \u0001"})") == "{\"note\":\"caf\xc3\xa9 \\u0001\"}");
}

TEST_CASE("device health: the whole-message checks of a reading, size first") {
    decode_settings s;
    s.max_payload_bytes = 64;
    CHECK(reason(health(R"({"pad":")" + std::string(100, 'x') + "\"}", s)) ==
          reject_reason::too_large);
    CHECK(reason(health(std::string(100, '\xff'), s)) == reject_reason::too_large);
    CHECK(reason(health("\xff not json")) == reject_reason::invalid_utf8);
    CHECK(reason(health(R"({"a":[[[[1]]]]})")) == reject_reason::too_deep);
    CHECK(reason(health("{not json")) == reject_reason::bad_json);
    CHECK(reason(health("")) == reject_reason::bad_json);
    for (const char* p : {"[]", "42", R"("ok")", "null", R"([{"battery":1}])"}) {
        CAPTURE(p);
        CHECK(reason(health(p)) == reject_reason::not_object);
    }
}

TEST_CASE("device health: field types, device, window, and nothing non-finite anywhere") {
    CHECK(reason(health(R"({"battery":"full"})")) == reject_reason::wrong_type);
    CHECK(reason(health(R"({"rssi":true})")) == reject_reason::wrong_type);
    CHECK(reason(health(R"({"uptime_s":[1]})")) == reject_reason::wrong_type);
    CHECK(reason(health(R"({"boot":"7"})")) == reject_reason::wrong_type);
    CHECK(reason(health(R"({"boot":-1})")) == reject_reason::bad_seq);
    CHECK(reason(health(R"({"device":1})")) == reject_reason::wrong_type);
    CHECK(reason(health(R"({"device":"d2"})")) == reject_reason::device_mismatch);
    CHECK(reason(health(R"({"device":"+"})")) == reject_reason::device_mismatch);
    CHECK(reason(health(R"({"ts":0})")) == reject_reason::ts_out_of_window);
    CHECK(reason(health(R"({"cpu":NaN})")) == reject_reason::not_finite);
    CHECK(reason(health(R"({"memory":1e400})")) == reject_reason::not_finite);
    CHECK(reason(health(R"({"battery":"Infinity"})")) == reject_reason::not_finite);
    const auto deep = health(R"({"radio":{"levels":[1,-Infinity]}})");
    CHECK(reason(deep) == reject_reason::not_finite);
    CHECK(std::get<fogbridge::rejection>(deep).detail.find("'radio'") != std::string::npos);
    // A sender's long field name is cut short in the detail (found by the fuzzer).
    const auto long_key = health("{\"" + std::string(300, 'N') + "\":Infinity}");
    CHECK(reason(long_key) == reject_reason::not_finite);
    const auto& detail = std::get<fogbridge::rejection>(long_key).detail;
    CHECK(detail.size() < 120);
    CHECK(detail.find(std::string(40, 'N') + "...") != std::string::npos);
    // null counts as absent, like optional reading fields.
    CHECK(relayed(R"({"battery":null})") == R"({"battery":null})");
}

TEST_CASE("processor: status and health are validated; alerts and health go upstream apart") {
    fogbridge::processor p("gw-01", decode_settings{}, fogbridge::filter_settings{});
    const auto ts = std::to_string(now);
    std::vector<fogbridge::inbound_message> group{
        {"devices/d1/status", "online"},
        {"devices/d1/status", ""},
        {"devices/d1/status", std::string(100, '\xff')},
        {"devices/d1/health", R"({"battery":3.9})"},
        {"devices/d1/health", "\xff not json"},
        {"devices/d1/health", R"({"device":"d2"})"},
        {"devices/d1/alerts", R"({"sensor":"t","value":31,"ts":)" + ts + R"(,"boot":7,"seq":1})"},
    };
    const auto out = p.process(group, now);

    REQUIRE(out.local.size() == 3);
    std::vector<std::string> reasons;
    for (const auto& m : out.local) {
        CHECK(m.topic == "gateways/gw-01/rejects");
        const auto j = json::parse(m.payload);
        reasons.push_back(j["reason"]);
        CHECK(j["device"] == "d1");
    }
    CHECK(reasons == std::vector<std::string>{"invalid_utf8", "invalid_utf8", "device_mismatch"});

    REQUIRE(out.upstream.size() == 2);
    CHECK(out.upstream[0].stream == upstream_stream::device_health);
    CHECK(out.upstream[0].source == "d1");
    CHECK(out.upstream[0].payload == R"({"battery":3.9})");
    CHECK(out.upstream[0].kind == urgent_kind::report);
    CHECK(out.upstream[1].stream == upstream_stream::alerts);
    CHECK(out.upstream[1].kind == urgent_kind::alert);

    const auto& c = p.counters();
    CHECK(c.statuses == 2);
    CHECK(c.health == 1);
    CHECK(c.alerts == 1);
    CHECK(c.rejected.at("invalid_utf8") == 2);
    CHECK(c.rejected.at("device_mismatch") == 1);
}
