// The portable core end to end against a scripted broker: the platform is a fake with a manual
// clock and an in-memory byte stream.
#include <doctest/doctest.h>

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core_fake_board.hpp"
#include "fogbridge/core/device.hpp"

namespace core = fogbridge::core;
namespace mqtt = fogbridge::core::mqtt;

namespace {

using core_test::fake_board;
using core_test::sent_packet;

const core::sensor_info sensors[] = {{"temperature", "C"}};

struct rig {
    explicit rig(std::uint16_t per_message = 1) {
        config.device_id = "b1";
        config.username = "b1";
        config.password = "secret";
        config.health_interval_ms = 0;
        config.delivery.max_readings_per_message = per_message;
        config.delivery.resend_timeout_ms = 5000;
        config.backoff = {100, 1000, 3};
    }
    core::device& make() {
        core::device_memory m{slots, 16, tx, sizeof tx, rx, sizeof rx};
        dev = new (storage) core::device(board, config, m, sensors, 1);
        return *dev;
    }
    // Connects through CONNACK and SUBACK; returns what the device sent on the way.
    std::vector<sent_packet> connect() {
        dev->poll();
        board.connack();
        dev->poll();
        board.suback();
        dev->poll();
        return board.take();
    }

    fake_board board;
    core::device_config config;
    core::reading slots[16];
    std::uint8_t tx[1200]{};
    std::uint8_t rx[128]{};
    alignas(core::device) unsigned char storage[sizeof(core::device)]{};
    core::device* dev = nullptr;
};

}  // namespace

TEST_SUITE("sdk_core") {
    TEST_CASE("device: CONNECT with will and credentials, then SUBSCRIBE to the ack and online") {
        rig r;
        auto& dev = r.make();
        REQUIRE(dev.valid());
        dev.poll();
        auto sent = r.board.take();
        REQUIRE(sent.size() == 1);
        CHECK(sent[0].type == mqtt::packet_type::connect);
        const std::string body(sent[0].body.begin(), sent[0].body.end());
        CHECK(body.find("devices/b1/status") != std::string::npos);
        CHECK(body.find("offline") != std::string::npos);
        CHECK(body.find("secret") != std::string::npos);
        CHECK(dev.state() == core::link_state::connecting);
        r.board.connack();
        dev.poll();
        sent = r.board.take();
        REQUIRE(sent.size() == 2);
        CHECK(sent[0].type == mqtt::packet_type::subscribe);
        CHECK(sent[1].type == mqtt::packet_type::publish);
        CHECK(sent[1].topic() == "devices/b1/status");
        CHECK(sent[1].payload() == "online");
        CHECK((sent[1].flags & 1) == 1);  // retained
        CHECK_FALSE(dev.connected());
        r.board.suback();
        dev.poll();
        CHECK(dev.connected());
    }

    TEST_CASE("device: readings go out in order and the ack frees them") {
        rig r(2);
        auto& dev = r.make();
        r.connect();
        for (int i = 0; i < 3; ++i) {
            CHECK(dev.publish(0, 20 + i) == core::accept_result::queued);
        }
        dev.poll();
        auto sent = r.board.take();
        REQUIRE(sent.size() == 2);
        CHECK(sent[0].topic() == "devices/b1/readings");
        CHECK(sent[0].payload().find("\"seq\":1,") != std::string::npos);
        CHECK(sent[0].payload().find("\"seq\":2,") != std::string::npos);
        CHECK(sent[1].payload().front() == '{');
        CHECK(sent[1].payload().find("\"boot\":" + std::to_string(dev.boot()) + ",\"seq\":3,") !=
              std::string::npos);
        r.board.ack(dev.boot(), 2);
        r.board.ack(dev.boot() + 1, 3);  // another boot's: ignored
        dev.poll();
        CHECK(dev.readings().buffered() == 1);
        CHECK(dev.readings().counters().ignored_acks == 1);
    }

    TEST_CASE("device: an alert goes out before the readings queued ahead of it") {
        rig r;
        auto& dev = r.make();
        REQUIRE(dev.add_alert_rule({0, core::alert_direction::above, 30, 0}));
        r.connect();
        dev.publish(0, 20);
        dev.publish(0, 35);
        dev.poll();
        auto sent = r.board.take();
        REQUIRE(sent.size() == 3);
        CHECK(sent[0].topic() == "devices/b1/alerts");
        CHECK(sent[0].payload().find("\"rule\":\"above\"") != std::string::npos);
        CHECK(sent[0].payload().find("\"threshold\":30") != std::string::npos);
        CHECK(sent[1].topic() == "devices/b1/readings");
        CHECK(dev.counters().alerts == 1);
    }

    TEST_CASE("device: a lost connection backs off, reconnects and re-sends the unacknowledged") {
        rig r;
        auto& dev = r.make();
        r.connect();
        for (int i = 0; i < 3; ++i) {
            dev.publish(0, i);
        }
        dev.poll();
        r.board.ack(dev.boot(), 1);
        dev.poll();
        r.board.take();
        r.board.broken = true;
        dev.poll();
        CHECK(dev.state() == core::link_state::waiting);
        CHECK(dev.counters().lost == 1);
        r.board.broken = false;
        dev.poll();
        CHECK(r.board.opens == 1);  // still backing off
        r.board.now += 1000;
        auto sent = r.connect();
        CHECK(r.board.opens == 2);
        REQUIRE(sent.size() == 5);  // CONNECT, SUBSCRIBE, online, seq 2, seq 3
        CHECK(sent[3].payload().find("\"seq\":2,") != std::string::npos);
        CHECK(sent[4].payload().find("\"seq\":3,") != std::string::npos);
        CHECK(dev.counters().reconnects == 1);
        CHECK(dev.readings().counters().resent == 2);
    }

    TEST_CASE("device: no CONNACK within the timeout closes and retries; a refusal too") {
        rig r;
        r.config.connect_timeout_ms = 500;
        auto& dev = r.make();
        dev.poll();
        r.board.now += 600;
        dev.poll();
        CHECK(dev.state() == core::link_state::waiting);
        r.board.now += 1000;
        dev.poll();
        r.board.connack(5);
        dev.poll();
        CHECK(dev.state() == core::link_state::waiting);
        CHECK(dev.counters().lost == 2);
        CHECK(r.board.opens == 2);
    }

    TEST_CASE("device: a refused ack subscription closes the connection") {
        rig r;
        auto& dev = r.make();
        dev.poll();
        r.board.connack();
        dev.poll();
        r.board.send({0x90, 3, 0, 1, 0x80});
        dev.poll();
        CHECK(dev.state() == core::link_state::waiting);
        CHECK(dev.counters().lost == 1);
    }

    TEST_CASE("device: keepalive pings when idle and gives up when the broker is silent") {
        rig r;
        r.config.keepalive_s = 10;
        auto& dev = r.make();
        r.connect();
        r.board.now += 5000;
        dev.poll();
        auto sent = r.board.take();
        REQUIRE(sent.size() == 1);
        CHECK(sent[0].type == mqtt::packet_type::pingreq);
        r.board.send({0xD0, 0});
        r.board.now += 1000;
        dev.poll();
        CHECK(dev.connected());
        r.board.now += 15001;
        dev.poll();
        CHECK_FALSE(dev.connected());
    }

    TEST_CASE("device: keepalive 0 sends no pings") {
        rig r;
        r.config.keepalive_s = 0;
        auto& dev = r.make();
        r.connect();
        r.board.now += 100000;
        dev.poll();
        CHECK(r.board.take().empty());
        CHECK(dev.connected());
    }

    TEST_CASE("device: a full stream holds the packet for the next poll, bytes in order") {
        rig r(1);
        auto& dev = r.make();
        r.connect();
        dev.publish(0, 1);
        dev.publish(0, 2);
        r.board.write_room = 10;
        for (int i = 0; i < 100; ++i) {
            dev.poll();
        }
        auto sent = r.board.take();
        REQUIRE(sent.size() == 2);
        CHECK(sent[1].payload().find("\"seq\":2,") != std::string::npos);
    }

    TEST_CASE("device: the boot counter comes from storage when there is one") {
        rig r;
        r.board.has_storage = true;
        r.board.stored_boot = 41;
        auto& dev = r.make();
        CHECK(dev.boot() == 42);
        CHECK(r.board.stored_boot == 42);
        rig random;
        auto& other = random.make();
        CHECK(other.boot() > 0);
        CHECK(other.boot() < (1ULL << 53));
    }

    TEST_CASE("device: health reports buffer fill, without ts when the board has no clock") {
        rig r;
        r.config.health_interval_ms = 1000;
        r.board.wall = 0;
        auto& dev = r.make();
        dev.publish(0, 1);
        auto sent = r.connect();
        REQUIRE(sent.size() >= 4);
        CHECK(sent[3].topic() == "devices/b1/health");
        CHECK(sent[3].payload() ==
              "{\"boot\":" + std::to_string(dev.boot()) +
                  ",\"uptime_s\":1,\"buffer\":{\"readings\":1,\"capacity\":16},"
                  "\"reconnects\":0}");
        CHECK(sent[4].payload().find("\"ts\":0,") != std::string::npos);
    }

    TEST_CASE("device: bad names or too small buffers are refused") {
        rig r;
        r.config.device_id = "a/b";
        CHECK_FALSE(r.make().valid());
        rig small;
        small.config.delivery.max_message_bytes = 2000;  // more than tx holds
        CHECK_FALSE(small.make().valid());
    }
}
