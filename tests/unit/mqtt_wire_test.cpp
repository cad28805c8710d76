#include "ingest/mqtt_wire.hpp"

#include <doctest/doctest.h>

#include <string>

namespace mqtt = fogbridge::mqtt;
using namespace std::string_literals;

TEST_CASE("mqtt wire: CONNECT carries the will, credentials and a persistent session") {
    mqtt::connect_options o;
    o.client_id = "gw";
    o.keepalive = 30;
    o.username = "u";
    o.password = "p";
    o.will_topic = "s";
    o.will_payload = "off";
    std::string out;
    mqtt::append_connect(out, o);
    // flags: user name, password, will retain, will QoS 1, will; clean session off.
    const std::string body = "\x00\x04MQTT\x04\xEC\x00\x1E"s + "\x00\x02gw"s + "\x00\x01s"s +
                             "\x00\x03off"s + "\x00\x01u"s + "\x00\x01p"s;
    CHECK(out == "\x10"s + static_cast<char>(body.size()) + body);
}

TEST_CASE("mqtt wire: SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT bytes") {
    std::string out;
    mqtt::append_subscribe(out, 0x0102, {"a/+", "b"}, 1);
    CHECK(out == "\x82\x0C\x01\x02\x00\x03\x61/+\x01\x00\x01\x62\x01"s);
    out.clear();
    mqtt::append_puback(out, 0x1234);
    mqtt::append_pingreq(out);
    mqtt::append_disconnect(out);
    CHECK(out == "\x40\x02\x12\x34\xC0\x00\xE0\x00"s);
}

TEST_CASE("mqtt wire: a PUBLISH reads back as written, with a two-byte length") {
    const std::string payload(300, 'x');
    std::string out;
    mqtt::append_publish(out, "devices/d1/ack", payload, 1, true, true, 77);
    const std::size_t remaining = 2 + 14 + 2 + 300;  // 318 = 0xBE 0x02
    CHECK(out.substr(0, 3) == "\x3B\xBE\x02"s);      // PUBLISH, DUP, QoS 1, retain
    const auto cut = mqtt::cut_packet(out);
    REQUIRE(cut);
    CHECK(cut->second == 3 + remaining);
    const auto p = mqtt::read_publish(cut->first);
    CHECK(p.topic == "devices/d1/ack");
    CHECK(p.payload == payload);
    CHECK(p.qos == 1);
    CHECK(p.retain);
    CHECK(p.dup);
    CHECK(p.id == 77);
}

TEST_CASE("mqtt wire: QoS 0 has no packet id and no DUP") {
    std::string out;
    mqtt::append_publish(out, "t", "v", 0, false, true, 9);
    CHECK(out == "\x30\x04\x00\x01tv"s);
    const auto p = mqtt::read_publish(mqtt::cut_packet(out)->first);
    CHECK(p.id == 0);
    CHECK(p.payload == "v");
}

TEST_CASE("mqtt wire: an incomplete packet is left for the next read") {
    std::string out;
    mqtt::append_publish(out, "topic", std::string(200, 'y'), 1, false, false, 1);
    for (std::size_t n = 0; n < out.size(); ++n) CHECK_FALSE(mqtt::cut_packet(out.substr(0, n)));
    CHECK(mqtt::cut_packet(out + "\x40"));  // the start of the next one does not matter
}

TEST_CASE("mqtt wire: malformed packets are protocol errors") {
    CHECK_THROWS_AS(mqtt::cut_packet("\x30\xFF\xFF\xFF\xFF\x01"s), mqtt::protocol_error);
    // A topic length beyond the body.
    const std::string bad = "\x32\x03\x00\x09t"s;
    CHECK_THROWS_AS(mqtt::read_publish(mqtt::cut_packet(bad)->first), mqtt::protocol_error);
    CHECK_THROWS_AS(mqtt::read_publish(mqtt::cut_packet("\x36\x00"s)->first),
                    mqtt::protocol_error);  // QoS 3
    CHECK_THROWS_AS(mqtt::read_connack(mqtt::cut_packet("\x20\x01\x00"s)->first),
                    mqtt::protocol_error);
}

TEST_CASE("mqtt wire: CONNACK and SUBACK read their codes") {
    const auto ack = mqtt::read_connack(mqtt::cut_packet("\x20\x02\x01\x05"s)->first);
    CHECK(ack.session_present);
    CHECK(ack.code == 5);
    CHECK(mqtt::connack_reason(5) == "not authorized");
    const std::string suback = "\x90\x04\x00\x01\x01\x80"s;
    const auto sub = mqtt::cut_packet(suback)->first;  // views into suback
    CHECK(mqtt::read_packet_id(sub) == 1);
    CHECK(mqtt::read_suback_codes(sub) == std::vector<std::uint8_t>{1, 0x80});
}
