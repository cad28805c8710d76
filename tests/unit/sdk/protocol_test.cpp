#include "fogbridge/protocol.hpp"

#include <doctest/doctest.h>

#include <vector>

using fogbridge::ack;
using fogbridge::buffered_reading;
using fogbridge::encode_reading;
using fogbridge::encode_readings;
using fogbridge::parse_ack;

TEST_CASE("protocol: topics of a device") {
    const auto t = fogbridge::topics_for("board-7");
    CHECK(t.readings == "devices/board-7/readings");
    CHECK(t.ack == "devices/board-7/ack");
    CHECK(t.status == "devices/board-7/status");
    CHECK(t.alerts == "devices/board-7/alerts");
    CHECK(t.health == "devices/board-7/health");
}

TEST_CASE("protocol: a reading encodes exactly as the contract shows") {
    const buffered_reading r{7, 1042, "temperature", 21.37, "C", 1732630000.123};
    CHECK(
        encode_reading(r) ==
        R"({"sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,"boot":7,"seq":1042})");
}

TEST_CASE("protocol: an empty unit is left out; ts is rounded to the millisecond") {
    const buffered_reading r{9007199254740991, 1, "occupancy", 1.0, "", 1732630000.0};
    CHECK(encode_reading(r) ==
          R"({"sensor":"occupancy","value":1,"ts":1732630000,"boot":9007199254740991,"seq":1})");
    const buffered_reading fine{1, 2, "co2", -0.5, "ppm", 1732630000.12351};
    CHECK(encode_reading(fine) ==
          R"({"sensor":"co2","value":-0.5,"unit":"ppm","ts":1732630000.124,"boot":1,"seq":2})");
}

TEST_CASE("protocol: numbers carry 15 significant digits, written by the board core") {
    const buffered_reading tiny{1, 3, "x", 1e-7, "", 0.0};
    CHECK(encode_reading(tiny) == R"({"sensor":"x","value":1e-7,"ts":0,"boot":1,"seq":3})");
    const buffered_reading third{1, 4, "x", 0.1 + 0.2, "", 1.5};
    CHECK(encode_reading(third) == R"({"sensor":"x","value":0.3,"ts":1.5,"boot":1,"seq":4})");
    const buffered_reading up{1, 5, "x", 21.37, "", 1.5, 12.3456};
    CHECK(encode_reading(up) ==
          R"({"sensor":"x","value":21.37,"ts":1.5,"boot":1,"seq":5,"up":12.346})");
}

TEST_CASE("protocol: strings are escaped") {
    const buffered_reading r{1, 5, "t", 1.0, "\"q\\\x01", 2.0};
    CHECK(encode_reading(r) ==
          R"({"sensor":"t","value":1,"unit":"\"q\\\u0001","ts":2,"boot":1,"seq":5})");
}

TEST_CASE("protocol: several readings make a JSON array, one stays an object") {
    const std::vector<buffered_reading> two{{3, 1, "temperature", 21.5, "C", 100.0},
                                            {3, 2, "humidity", 45.25, "%RH", 100.0}};
    CHECK(encode_readings(two) ==
          R"([{"sensor":"temperature","value":21.5,"unit":"C","ts":100,"boot":3,"seq":1},)"
          R"({"sensor":"humidity","value":45.25,"unit":"%RH","ts":100,"boot":3,"seq":2}])");
    CHECK(encode_readings(std::span(two).first(1)) ==
          R"({"sensor":"temperature","value":21.5,"unit":"C","ts":100,"boot":3,"seq":1})");
}

TEST_CASE("protocol: an alert encodes exactly") {
    const fogbridge::alert_event a{"temperature", 31.2, 30.0, fogbridge::alert_direction::above,
                                   1732630000.5,  0};
    CHECK(
        fogbridge::encode_alert(a, 7) ==
        R"({"sensor":"temperature","value":31.2,"threshold":30,"rule":"above","ts":1732630000.5,"boot":7})");
    const fogbridge::alert_event b{"humidity", 19.5, 20.0, fogbridge::alert_direction::below,
                                   10.0,       1};
    CHECK(fogbridge::encode_alert(b, 1) ==
          R"({"sensor":"humidity","value":19.5,"threshold":20,"rule":"below","ts":10,"boot":1})");
}

TEST_CASE("protocol: acks parse; anything else is malformed") {
    CHECK(parse_ack(R"({"boot":7,"seq":1042})") == ack{7, 1042});
    CHECK(parse_ack(R"( { "seq" : 3 , "gateway":"gw-01", "boot" : 9007199254740991 } )") ==
          ack{9007199254740991, 3});
    CHECK_FALSE(parse_ack(R"({"boot":7})").has_value());
    CHECK_FALSE(parse_ack(R"({"boot":7,"seq":-1})").has_value());
    CHECK_FALSE(parse_ack(R"({"boot":7,"seq":1.5})").has_value());
    CHECK_FALSE(parse_ack(R"({"boot":"7","seq":1})").has_value());
    CHECK_FALSE(parse_ack(R"([7,1])").has_value());
    CHECK_FALSE(parse_ack("not json").has_value());
    CHECK_FALSE(parse_ack("").has_value());
}

TEST_CASE("protocol: names and units") {
    CHECK(fogbridge::valid_sensor_name("temperature"));
    CHECK(fogbridge::valid_sensor_name("pt08_s1_co"));
    CHECK(fogbridge::valid_sensor_name("cpu-0.temp"));
    CHECK_FALSE(fogbridge::valid_sensor_name(""));
    CHECK_FALSE(fogbridge::valid_sensor_name("a/b"));
    CHECK_FALSE(fogbridge::valid_sensor_name("a b"));
    CHECK_FALSE(fogbridge::valid_sensor_name("#"));
    CHECK_FALSE(fogbridge::valid_sensor_name(std::string(65, 'a')));
    CHECK(fogbridge::valid_device_id("d1"));
    CHECK_FALSE(fogbridge::valid_device_id("d+1"));
    CHECK(fogbridge::valid_unit(""));
    CHECK(fogbridge::valid_unit("%RH"));
    CHECK(fogbridge::valid_unit("\xC2\xB5g/m3"));  // UTF-8 is fine
    CHECK_FALSE(fogbridge::valid_unit("a\nb"));
    CHECK_FALSE(fogbridge::valid_unit(std::string(33, 'u')));
}
