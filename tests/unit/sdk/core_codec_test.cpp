// The portable core's codecs: JSON numbers and strings, the ack parser, MQTT packets.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "fogbridge/core/json.hpp"
#include "fogbridge/core/mqtt.hpp"

namespace core = fogbridge::core;
namespace mqtt = fogbridge::core::mqtt;

namespace {

std::string number(double v) {
    char buf[64];
    core::json_out out(buf, sizeof buf);
    out.number(v);
    return std::string(buf, out.size());
}

std::string millis(std::int64_t ms) {
    char buf[64];
    core::json_out out(buf, sizeof buf);
    out.millis(ms);
    return std::string(buf, out.size());
}

bool ack(const char* text, std::uint64_t& boot, std::uint64_t& seq) {
    return core::parse_ack(text, std::strlen(text), boot, seq);
}

}  // namespace

TEST_SUITE("sdk_core") {
    TEST_CASE("numbers print short and exact enough") {
        CHECK(number(0) == "0");
        CHECK(number(21.37) == "21.37");
        CHECK(number(-5.5) == "-5.5");
        CHECK(number(0.1) == "0.1");
        CHECK(number(100) == "100");
        CHECK(number(123456.789) == "123456.789");
        CHECK(number(0.000004) == "0.000004");
        CHECK(number(1e20) == "1e20");
        CHECK(number(-2.5e-9) == "-2.5e-9");
        CHECK(number(9.9999999) == "10");
        CHECK(number(1732630000.123) == "1732630000.123");
    }

    TEST_CASE("milliseconds print as exact seconds") {
        CHECK(millis(1732630000123) == "1732630000.123");
        CHECK(millis(1500) == "1.5");
        CHECK(millis(2000) == "2");
        CHECK(millis(7) == "0.007");
        CHECK(millis(0) == "0");
        CHECK(millis(-1500) == "-1.5");
    }

    TEST_CASE("strings are escaped and a full buffer says so") {
        char buf[16];
        core::json_out out(buf, sizeof buf);
        out.string("a\"b\\\n");
        CHECK(std::string(buf, out.size()) == "\"a\\\"b\\\\\\u000a\"");
        CHECK_FALSE(out.overflow());
        out.raw("0123456789");
        CHECK(out.overflow());
    }

    TEST_CASE("names and units") {
        CHECK(core::valid_name("sensor-01.a_b"));
        CHECK_FALSE(core::valid_name(""));
        CHECK_FALSE(core::valid_name("a/b"));
        CHECK_FALSE(core::valid_name("a+"));
        CHECK(core::valid_name(std::string(64, 'x').c_str()));
        CHECK_FALSE(core::valid_name(std::string(65, 'x').c_str()));
        CHECK(core::valid_unit(""));
        CHECK(core::valid_unit("degC"));
        CHECK_FALSE(core::valid_unit("a\"b"));
        CHECK_FALSE(core::valid_unit(std::string(17, 'u').c_str()));
    }

    TEST_CASE("acks parse, with other keys of any kind skipped") {
        std::uint64_t boot = 0;
        std::uint64_t seq = 0;
        REQUIRE(ack("{\"boot\":7,\"seq\":1042}", boot, seq));
        CHECK(boot == 7);
        CHECK(seq == 1042);
        REQUIRE(
            ack(" { \"x\" : [1, {\"seq\": 5}], \"seq\" : 9 , \"s\":\"}\\\"\", "
                "\"boot\":9007199254740991 } ",
                boot, seq));
        CHECK(boot == 9007199254740991ULL);
        CHECK(seq == 9);
        REQUIRE(ack("{\"gateway\":\"gw\",\"ts\":1.5,\"ok\":true,\"n\":null,\"boot\":1,\"seq\":2}",
                    boot, seq));
        CHECK(seq == 2);
    }

    TEST_CASE("malformed acks are refused") {
        std::uint64_t boot = 0;
        std::uint64_t seq = 0;
        for (const char* bad :
             {"", "{}", "[]", "{\"boot\":1}", "{\"seq\":1}", "{\"boot\":1,\"seq\":-2}",
              "{\"boot\":1,\"seq\":2.0}", "{\"boot\":1,\"seq\":2e3}", "{\"boot\":\"1\",\"seq\":2}",
              "{\"boot\":1,\"seq\":2", "{\"boot\":1,\"seq\":2}x", "{\"boot\":1 \"seq\":2}",
              "{\"boot\":99999999999999999999,\"seq\":2}", "{\"x\":[1,\"seq\":2}"}) {
            CAPTURE(bad);
            CHECK_FALSE(ack(bad, boot, seq));
        }
    }

    TEST_CASE("CONNECT carries the will, the credentials and the keepalive") {
        std::uint8_t buf[128];
        mqtt::connect_options o;
        o.client_id = "b1";
        o.username = "u";
        o.password = "pw";
        o.keepalive_s = 30;
        o.will_topic = "devices/b1/status";
        o.will_payload = "offline";
        const std::size_t n = mqtt::encode_connect(buf, sizeof buf, o);
        REQUIRE(n > 0);
        CHECK(buf[0] == 0x10);
        CHECK(buf[1] == n - 2);
        CHECK(std::memcmp(buf + 2, "\0\4MQTT\4", 7) == 0);
        CHECK(buf[9] == (0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02));
        CHECK(buf[10] == 0);
        CHECK(buf[11] == 30);
        CHECK(mqtt::encode_connect(buf, 20, o) == 0);  // too small
    }

    TEST_CASE("PUBLISH header and the reader agree, across split feeds and long lengths") {
        std::vector<std::uint8_t> wire(400);
        const char* parts[] = {"devices/", "b1", "/ack", nullptr};
        const std::string payload(300, 'p');  // two length bytes
        const std::size_t header =
            mqtt::publish_header_size(mqtt::publish_sizes{14, payload.size(), 1});
        REQUIRE(mqtt::encode_publish_header(wire.data(), wire.size(), parts, payload.size(), 1,
                                            true, 258) == header);
        std::memcpy(wire.data() + header, payload.data(), payload.size());
        CHECK(wire[0] == 0x33);
        std::uint8_t rx[512];
        mqtt::reader reader(rx, sizeof rx);
        mqtt::packet packet;
        std::size_t total = header + payload.size();
        std::size_t at = 0;
        mqtt::feed_result r = mqtt::feed_result::need_more;
        while (at < total && r == mqtt::feed_result::need_more) {
            std::size_t used = 0;
            r = reader.feed(wire.data() + at, std::min<std::size_t>(7, total - at), used, packet);
            at += used;
        }
        REQUIRE(r == mqtt::feed_result::packet);
        CHECK(at == total);
        mqtt::incoming_publish m;
        REQUIRE(mqtt::parse_publish(packet, m));
        CHECK(std::string(m.topic, m.topic_size) == "devices/b1/ack");
        CHECK(m.qos == 1);
        CHECK(m.packet_id == 258);
        CHECK(m.payload_size == 300);
    }

    TEST_CASE("a packet larger than the buffer is skipped whole, the next one read") {
        std::uint8_t rx[8];
        mqtt::reader reader(rx, sizeof rx);
        std::vector<std::uint8_t> wire = {0x30, 10, 0, 1,    't', 1, 2, 3, 4,
                                          5,    6,  7, 0x90, 3,   0, 5, 0};
        mqtt::packet packet;
        std::size_t used = 0;
        CHECK(reader.feed(wire.data(), wire.size(), used, packet) == mqtt::feed_result::skipped);
        CHECK(used == 12);
        CHECK(reader.feed(wire.data() + used, wire.size() - used, used, packet) ==
              mqtt::feed_result::packet);
        CHECK(packet.type == mqtt::packet_type::suback);
        std::uint16_t id = 0;
        REQUIRE(mqtt::parse_packet_id(packet, id));
        CHECK(id == 5);
        CHECK(reader.skipped() == 1);
        const std::uint8_t bad[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF};
        CHECK(reader.feed(bad, sizeof bad, used, packet) == mqtt::feed_result::malformed);
    }

    TEST_CASE("SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT bytes") {
        std::uint8_t buf[64];
        REQUIRE(mqtt::encode_subscribe(buf, sizeof buf, mqtt::subscribe_options{1, "a/b", 0}) ==
                10);
        const std::uint8_t sub[] = {0x82, 8, 0, 1, 0, 3, 'a', '/', 'b', 0};
        CHECK(std::memcmp(buf, sub, sizeof sub) == 0);
        REQUIRE(mqtt::encode_puback(0x1234, buf, sizeof buf) == 4);
        CHECK(buf[0] == 0x40);
        CHECK(buf[2] == 0x12);
        REQUIRE(mqtt::encode_pingreq(buf, sizeof buf) == 2);
        CHECK(buf[0] == 0xC0);
        REQUIRE(mqtt::encode_disconnect(buf, sizeof buf) == 2);
        CHECK(buf[0] == 0xE0);
    }
}
