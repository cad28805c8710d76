// A fake board for the portable core's tests: a manual clock, an in-memory byte stream with a
// scripted broker on the other side, and a boot counter that survives a reset. Test-only.
#pragma once

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "fogbridge/core/device.hpp"

namespace core_test {

namespace core = fogbridge::core;
namespace mqtt = fogbridge::core::mqtt;

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

}  // namespace core_test
