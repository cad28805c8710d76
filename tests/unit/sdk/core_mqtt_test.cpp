// The core's MQTT client pieces beyond the encoders: CONNACK, keepalive timing, and the reader
// and PUBLISH parser fed random and truncated bytes (they must refuse, never read out of bounds).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "fogbridge/core/mqtt.hpp"

namespace mqtt = fogbridge::core::mqtt;

namespace {

// A small deterministic generator (the board has no <random> worth its size).
struct lcg {
    std::uint32_t state;
    std::uint32_t next() {
        state = state * 1664525U + 1013904223U;
        return state >> 8;
    }
};

}  // namespace

TEST_SUITE("core mqtt client") {
    TEST_CASE("CONNACK: the return code, its meaning, and malformed ones refused") {
        const std::uint8_t ok[] = {0, 0};
        const std::uint8_t refused[] = {0, 5};
        std::uint8_t code = 0xFF;
        CHECK(mqtt::parse_connack(mqtt::packet{mqtt::packet_type::connack, 0, ok, 2}, code));
        CHECK(code == 0);
        CHECK(mqtt::parse_connack(mqtt::packet{mqtt::packet_type::connack, 0, refused, 2}, code));
        CHECK(code == 5);
        CHECK(std::strcmp(mqtt::connack_text(5), "not authorised") == 0);
        CHECK(std::strcmp(mqtt::connack_text(0), "accepted") == 0);
        CHECK(std::strcmp(mqtt::connack_text(77), "unknown return code") == 0);
        CHECK_FALSE(mqtt::parse_connack(mqtt::packet{mqtt::packet_type::connack, 0, ok, 1}, code));
        CHECK_FALSE(mqtt::parse_connack(mqtt::packet{mqtt::packet_type::suback, 0, ok, 2}, code));
    }

    TEST_CASE("keepalive: PINGREQ after half the period quiet, dead after one and a half") {
        mqtt::keepalive k(10);
        k.start(1000);
        CHECK_FALSE(k.ping_due(5999));
        CHECK(k.ping_due(6000));
        CHECK(k.next_deadline() == 6000);
        k.pinged(6000);
        CHECK_FALSE(k.ping_due(6001));
        CHECK_FALSE(k.ping_due(12000));  // one unanswered PINGREQ at a time
        CHECK(k.next_deadline() == 16001);
        CHECK_FALSE(k.expired(16000));
        CHECK(k.expired(16001));
        k.received(15000);  // the PINGRESP
        CHECK_FALSE(k.expired(30000));
        CHECK(k.ping_due(15000));  // nothing sent since 6000
        k.pinged(15000);
        k.received(15050);
        CHECK_FALSE(k.ping_due(19999));
        CHECK(k.ping_due(20000));
    }

    TEST_CASE("keepalive: a client that only sends still pings when the broker is quiet") {
        mqtt::keepalive k(10);
        k.start(0);
        for (std::uint64_t t = 1000; t < 5000; t += 1000) {
            k.sent(t);  // QoS 0 messages: nothing comes back
            CHECK_FALSE(k.ping_due(t));
        }
        CHECK(k.ping_due(5000));
        CHECK(k.next_deadline() == 5000);
        k.pinged(5000);
        k.received(5100);
        CHECK_FALSE(k.ping_due(6000));
        mqtt::keepalive off(0);
        off.start(0);
        CHECK_FALSE(off.ping_due(1000000));
        CHECK_FALSE(off.expired(1000000));
        CHECK(off.next_deadline() == 0);
    }

    TEST_CASE("a remaining length of more than four bytes is malformed") {
        std::uint8_t rx[64];
        mqtt::reader reader(rx, sizeof rx);
        const std::uint8_t bad[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
        std::size_t used = 0;
        mqtt::packet packet;
        CHECK(reader.feed(bad, sizeof bad, used, packet) == mqtt::feed_result::malformed);
        // After a reset the reader takes the next packet as new.
        const std::uint8_t pingresp[] = {0xD0, 0x00};
        CHECK(reader.feed(pingresp, 2, used, packet) == mqtt::feed_result::packet);
        CHECK(packet.type == mqtt::packet_type::pingresp);
    }

    TEST_CASE("PUBLISH bodies cut short or with a topic longer than the packet are refused") {
        // topic length 0x0010 but only 3 bytes follow
        const std::uint8_t short_topic[] = {0x00, 0x10, 'a', 'b', 'c'};
        mqtt::incoming_publish m;
        CHECK_FALSE(mqtt::parse_publish(
            mqtt::packet{mqtt::packet_type::publish, 0, short_topic, sizeof short_topic}, m));
        // QoS 1 with no room for the packet id
        const std::uint8_t no_id[] = {0x00, 0x01, 'a', 0x00};
        CHECK_FALSE(mqtt::parse_publish(mqtt::packet{mqtt::packet_type::publish, 2, no_id, 4}, m));
        // QoS 3 does not exist
        const std::uint8_t fine[] = {0x00, 0x01, 'a', 0x00, 0x07, 'x'};
        CHECK_FALSE(mqtt::parse_publish(mqtt::packet{mqtt::packet_type::publish, 6, fine, 6}, m));
        REQUIRE(mqtt::parse_publish(mqtt::packet{mqtt::packet_type::publish, 2, fine, 6}, m));
        CHECK(m.packet_id == 7);
        CHECK(m.payload_size == 1);
    }

    TEST_CASE(
        "random bytes in random chunks: packets stay inside the buffer, parsers stay inside") {
        lcg rng{12345};
        std::uint8_t rx[96];
        for (int round = 0; round < 300; ++round) {
            mqtt::reader reader(rx, sizeof rx);
            std::vector<std::uint8_t> wire(64 + rng.next() % 512);
            for (auto& b : wire) {
                // Mostly small lengths, so whole packets form often.
                b = static_cast<std::uint8_t>(rng.next() % 4 == 0 ? rng.next() : rng.next() % 40);
            }
            std::size_t at = 0;
            while (at < wire.size()) {
                const std::size_t chunk = 1 + rng.next() % 17;
                const std::size_t size = chunk < wire.size() - at ? chunk : wire.size() - at;
                std::size_t used = 0;
                mqtt::packet packet;
                const auto r = reader.feed(wire.data() + at, size, used, packet);
                REQUIRE(used <= size);
                if (r == mqtt::feed_result::need_more) {
                    REQUIRE(used == size);
                }
                at += used;
                if (r == mqtt::feed_result::malformed) {
                    continue;
                }
                if (r != mqtt::feed_result::packet) {
                    continue;
                }
                REQUIRE(packet.size <= sizeof rx);
                mqtt::incoming_publish m;
                std::uint8_t code = 0;
                std::uint16_t id = 0;
                if (mqtt::parse_publish(packet, m)) {
                    REQUIRE(m.topic_size + m.payload_size + 2 <= packet.size);
                    REQUIRE(reinterpret_cast<const std::uint8_t*>(m.topic) >= packet.body);
                    REQUIRE(m.payload + m.payload_size == packet.body + packet.size);
                }
                (void)mqtt::parse_connack(packet, code);
                (void)mqtt::parse_packet_id(packet, id);
            }
        }
    }
}
