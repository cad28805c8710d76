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
    mqtt::append_publish(out, "devices/d1/ack", payload,
                         {.qos = fogbridge::qos::at_least_once,
                          .retain = fogbridge::retain::yes,
                          .dup = mqtt::dup::yes,
                          .id = 77});
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
    mqtt::append_publish(out, "t", "v",
                         {.qos = fogbridge::qos::at_most_once, .dup = mqtt::dup::yes, .id = 9});
    CHECK(out == "\x30\x04\x00\x01tv"s);
    const auto p = mqtt::read_publish(mqtt::cut_packet(out)->first);
    CHECK(p.id == 0);
    CHECK(p.payload == "v");
}

TEST_CASE("mqtt wire: an incomplete packet is left for the next read") {
    std::string out;
    mqtt::append_publish(out, "topic", std::string(200, 'y'),
                         {.qos = fogbridge::qos::at_least_once, .id = 1});
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
    const auto granted = mqtt::read_suback(sub);
    CHECK(granted.id == 1);
    CHECK(granted.codes == std::vector<std::uint8_t>{1, 0x80});
}

namespace {

// The first packet of `bytes`, read as `read` does; what it throws, or "" when it did not.
template <typename Read>
std::string refusal(const std::string& bytes, Read read, std::size_t max = 1 << 20) {
    try {
        const auto cut = mqtt::cut_packet(bytes, max);
        if (!cut) return "incomplete";
        read(cut->first);
    } catch (const mqtt::protocol_error& e) {
        return e.what();
    }
    return "";
}

void nothing(const mqtt::packet&) {}

}  // namespace

TEST_CASE("mqtt wire: a packet over the bound is refused from its fixed header alone") {
    // 1 + 2 length bytes + 2048: no body has arrived yet.
    CHECK(refusal("\x30\x80\x10"s, nothing, 1024).find("more than the 1024") != std::string::npos);
    // Exactly at the bound it is taken.
    const std::string at_bound = "\x30\x7D\x00\x01t"s + std::string(122, 'x');
    REQUIRE(at_bound.size() == 127);
    CHECK(refusal(at_bound, nothing, 127).empty());
    CHECK_FALSE(refusal(at_bound, nothing, 126).empty());
}

TEST_CASE("mqtt wire: lengths must be minimally encoded in at most four bytes") {
    CHECK(refusal("\xD0\x80\x00"s, nothing) == "packet length not minimally encoded");
    CHECK(refusal("\x30\x81\x80\x00"s, nothing) == "packet length not minimally encoded");
    CHECK(refusal("\x30\xFF\xFF\xFF\xFF\x01"s, nothing) == "packet length longer than four bytes");
    // 128 in two bytes and 127 in one are minimal.
    CHECK(refusal("\x30\x80\x01"s + std::string(128, 'x'), nothing).empty());
    CHECK(mqtt::cut_packet("\x30\x80\x01"s + std::string(128, 'x'))->second == 131);
}

TEST_CASE("mqtt wire: reserved types and flag bits are refused") {
    CHECK(refusal("\x00\x00"s, nothing) == "reserved packet type 0");
    CHECK(refusal("\xF0\x00"s, nothing) == "reserved packet type 15");
    CHECK(refusal("\x21\x02\x00\x00"s, nothing) ==
          "packet type 2 with reserved flag bits 0x1");              // CONNACK
    CHECK_FALSE(refusal("\x42\x02\x00\x01"s, nothing).empty());      // PUBACK
    CHECK_FALSE(refusal("\x92\x03\x00\x01\x01"s, nothing).empty());  // SUBACK
    CHECK_FALSE(refusal("\xD8\x00"s, nothing).empty());              // PINGRESP
    CHECK_FALSE(refusal("\x60\x02\x00\x01"s, nothing).empty());      // PUBREL needs 0010
    CHECK(refusal("\x62\x02\x00\x01"s, nothing).empty());
    CHECK(refusal("\x36\x00"s, nothing) == "PUBLISH with QoS 3");
    CHECK(refusal("\x38\x03\x00\x01t"s, nothing) == "PUBLISH with DUP at QoS 0");
    // Refused from the first byte: nothing else need have arrived.
    CHECK_THROWS_AS(mqtt::cut_packet("\x21"s), mqtt::protocol_error);
}

TEST_CASE("mqtt wire: packet id 0 is refused where MQTT requires an id") {
    CHECK(refusal("\x32\x05\x00\x01t\x00\x00"s, mqtt::read_publish) ==
          "PUBLISH at QoS 1 with packet id 0");
    CHECK(refusal("\x34\x05\x00\x01t\x00\x00"s, mqtt::read_publish) ==
          "PUBLISH at QoS 2 with packet id 0");
    CHECK(refusal("\x32\x05\x00\x01t\x00\x01"s, mqtt::read_publish).empty());
    CHECK(refusal("\x40\x02\x00\x00"s, mqtt::read_packet_id) == "acknowledgement with packet id 0");
    CHECK(refusal("\x90\x03\x00\x00\x01"s, mqtt::read_suback) == "SUBACK with packet id 0");
}

TEST_CASE("mqtt wire: acknowledgements of the wrong size or with unknown codes are refused") {
    CHECK(refusal("\x40\x03\x00\x01\x00"s, mqtt::read_packet_id) ==
          "acknowledgement of 3 bytes, not 2");
    CHECK(refusal("\x20\x03\x00\x00\x00"s, mqtt::read_connack) == "CONNACK of 3 bytes, not 2");
    CHECK(refusal("\x20\x02\x02\x00"s, mqtt::read_connack) == "CONNACK with reserved flag bits");
    CHECK(refusal("\x90\x03\x00\x01\x03"s, mqtt::read_suback) == "SUBACK with return code 0x03");
    CHECK(refusal("\x90\x01\x00"s, mqtt::read_suback) == "truncated SUBACK packet");
}
