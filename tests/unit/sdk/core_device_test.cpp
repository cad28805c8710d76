// The portable core end to end against a scripted broker: the platform is a fake with a manual
// clock and an in-memory byte stream.
#include <doctest/doctest.h>

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "fogbridge/core/device.hpp"

namespace core = fogbridge::core;
namespace mqtt = fogbridge::core::mqtt;

namespace {

struct sent_packet {
    mqtt::packet_type type{};
    std::uint8_t flags = 0;
    std::vector<std::uint8_t> body;

    std::string topic() const {
        return std::string(reinterpret_cast<const char*>(body.data()) + 2, body[0] << 8 | body[1]);
    }
    std::string payload() const {
        const std::size_t at = 2 + topic().size() + (((flags >> 1) & 3) != 0 ? 2 : 0);
        return std::string(body.begin() + static_cast<long>(at), body.end());
    }
};

class fake_board final : public core::platform {
  public:
    std::uint64_t monotonic_ms() override { return now; }
    bool wall_ms(std::int64_t& out) override {
        out = wall;
        return wall != 0;
    }
    std::uint32_t random32() override { return rng = rng * 1664525u + 1013904223u; }
    bool open() override {
        ++opens;
        open_ = accept_connections;
        return open_;
    }
    void close() override { open_ = false; }
    int write(const std::uint8_t* data, std::size_t size) override {
        if (!open_ || broken) {
            return -1;
        }
        const std::size_t n = size < write_room ? size : write_room;
        std::size_t used = 0;
        while (used < n) {
            std::size_t u = 0;
            mqtt::packet p;
            if (reader.feed(data + used, n - used, u, p) == mqtt::feed_result::packet) {
                sent.push_back(
                    {p.type, p.flags, std::vector<std::uint8_t>(p.body, p.body + p.size)});
            }
            used += u;
        }
        return static_cast<int>(n);
    }
    int read(std::uint8_t* data, std::size_t size) override {
        if (!open_ || broken) {
            return open_ ? -1 : 0;
        }
        const std::size_t n = std::min(size, in.size());
        if (n == 0) return 0;  // in.data() may be null, and memcpy must not get it
        std::memcpy(data, in.data(), n);
        in.erase(in.begin(), in.begin() + static_cast<long>(n));
        return static_cast<int>(n);
    }
    bool load_boot(std::uint64_t& b) override {
        b = stored_boot;
        return has_storage;
    }
    bool save_boot(std::uint64_t b) override {
        stored_boot = b;
        return has_storage;
    }

    // The broker's side.
    void send(std::initializer_list<std::uint8_t> bytes) { in.insert(in.end(), bytes); }
    void connack(std::uint8_t rc = 0) { send({0x20, 2, 0, rc}); }
    void suback() { send({0x90, 3, 0, 1, 0}); }
    void puback() { send({0x40, 2, 0, 1}); }
    void ack(std::uint64_t boot, std::uint64_t seq, const char* id = "b1") {
        const std::string topic = std::string("devices/") + id + "/ack";
        const std::string payload =
            "{\"boot\":" + std::to_string(boot) + ",\"seq\":" + std::to_string(seq) + "}";
        in.push_back(0x30);
        in.push_back(static_cast<std::uint8_t>(2 + topic.size() + payload.size()));
        in.push_back(0);
        in.push_back(static_cast<std::uint8_t>(topic.size()));
        in.insert(in.end(), topic.begin(), topic.end());
        in.insert(in.end(), payload.begin(), payload.end());
    }
    std::vector<sent_packet> take() {
        auto r = sent;
        sent.clear();
        return r;
    }

    std::uint64_t now = 1000;
    std::int64_t wall = 1732630000000;
    std::uint32_t rng = 1;
    bool accept_connections = true;
    bool broken = false;
    bool has_storage = false;
    std::uint64_t stored_boot = 0;
    std::size_t write_room = 1 << 20;
    int opens = 0;
    std::vector<std::uint8_t> in;
    std::vector<sent_packet> sent;

  private:
    bool open_ = false;
    std::uint8_t rx_[2048]{};
    mqtt::reader reader{rx_, sizeof rx_};
};

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
