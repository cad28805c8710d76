// The portable core's delivery cases (delivery_cases.hpp) run through the Linux SDK's
// delivery_session and a memory_buffer: the Linux client sends exactly what a board sends.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>

#include "delivery_cases.hpp"
#include "fogbridge/buffer.hpp"
#include "fogbridge/delivery_session.hpp"

namespace {

namespace core = fogbridge::core;
using fogbridge::delivery_session;
using time_point = delivery_session::time_point;

time_point at(std::uint64_t ms) { return time_point{} + std::chrono::milliseconds{ms}; }

// delivery_session behind the core delivery's interface (times in ms, sensors by index).
class linux_delivery {
  public:
    linux_delivery(const core::delivery_settings& c, std::size_t capacity)
        : s_(settings(c), 7, std::make_unique<fogbridge::memory_buffer>(capacity)) {}

    core::accept_result accept(std::uint8_t sensor, double value, std::int64_t ts_ms,
                               std::uint64_t up_ms) {
        static constexpr std::array<const char*, 2> names{"temperature", "humidity"};
        static constexpr std::array<const char*, 2> units{"C", ""};
        const bool known = sensor < 2;
        switch (s_.accept(known ? names[sensor] : "", value, known ? units[sensor] : "",
                          static_cast<double>(ts_ms) / 1000.0,
                          static_cast<double>(up_ms) / 1000.0)) {
            case fogbridge::publish_result::queued:
                return core::accept_result::queued;
            case fogbridge::publish_result::buffer_full:
                return core::accept_result::buffer_full;
            case fogbridge::publish_result::invalid:
                break;
        }
        return core::accept_result::invalid;
    }
    void on_connected(std::uint64_t ms) { s_.on_connected(at(ms)); }
    void on_disconnected() { s_.on_disconnected(); }
    core::ack_result on_ack(std::uint64_t boot, std::uint64_t seq, std::uint64_t ms) {
        switch (s_.on_ack(boot, seq, at(ms))) {
            case fogbridge::ack_result::progress:
                return core::ack_result::progress;
            case fogbridge::ack_result::duplicate:
                return core::ack_result::duplicate;
            case fogbridge::ack_result::other_boot:
                return core::ack_result::other_boot;
            default:
                return core::ack_result::out_of_range;
        }
    }
    std::size_t buffered() const { return s_.buffered(); }
    std::uint64_t last_seq() const { return s_.last_seq(); }
    std::uint64_t in_flight() const { return s_.in_flight(); }
    std::uint64_t next_deadline_ms() const {
        const auto d = s_.next_deadline();
        return d ? static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(*d - time_point{})
                           .count())
                 : 0;
    }
    fogbridge::delivery_counters counters() const { return s_.counters(); }
    delivery_session& session() { return s_; }

  private:
    static fogbridge::delivery_settings settings(const core::delivery_settings& c) {
        fogbridge::delivery_settings s;
        s.device_id = "d1";
        s.max_in_flight = c.max_in_flight;
        s.resend_timeout = std::chrono::milliseconds{c.resend_timeout_ms};
        s.max_readings_per_message = c.max_readings_per_message;
        s.max_message_bytes = c.max_message_bytes;
        return s;
    }

    delivery_session s_;
};

struct linux_session {
    explicit linux_session(core::delivery_settings s = {}, std::size_t capacity = 8)
        : d(s, capacity) {}

    std::string next(std::uint64_t now) {
        const auto out = d.session().take_sendable(at(now), 1);
        if (out.empty()) {
            return "";
        }
        first = out.front().first_seq;
        last = out.front().last_seq;
        return out.front().payload;
    }

    linux_delivery d;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

}  // namespace

TEST_SUITE("sdk_shared") {
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_1, std::tuple<linux_session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_2, std::tuple<linux_session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_3, std::tuple<linux_session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_4, std::tuple<linux_session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_5, std::tuple<linux_session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_6, std::tuple<linux_session>);
}
