// The portable core's delivery rules, backoff and alert rules: Sans-I/O, time as an argument.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fogbridge/core/alerts.hpp"
#include "fogbridge/core/backoff.hpp"
#include "fogbridge/core/delivery.hpp"

namespace core = fogbridge::core;

namespace {

const core::sensor_info sensors[] = {{"temperature", "C"}, {"humidity", ""}};

struct session {
    explicit session(core::delivery_settings s = {}, std::size_t capacity = 8)
        : slots(capacity), d(s, 7, slots.data(), capacity, sensors, 2) {}

    // The next message's payload, or "" when nothing is due.
    std::string next(std::uint64_t now) {
        core::json_out out(buf, sizeof buf);
        if (!d.next_message(now, out, first, last)) {
            return "";
        }
        return std::string(buf, out.size());
    }

    std::vector<core::reading> slots;
    core::delivery d;
    char buf[1024]{};
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

}  // namespace

TEST_SUITE("sdk_core") {
    TEST_CASE("a reading carries boot, seq, ts and up") {
        session s;
        CHECK(s.d.accept(0, 21.5, 1732630000123, 12345) == core::accept_result::queued);
        CHECK(s.d.accept(1, 40, 0, 12400) == core::accept_result::queued);
        s.d.on_connected(0);
        core::delivery_settings one;
        one.max_readings_per_message = 1;
        session t(one);
        t.d.accept(0, 21.5, 1732630000123, 12345);
        t.d.on_connected(0);
        CHECK(
            t.next(0) ==
            R"({"sensor":"temperature","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":1,"up":12.345})");
        CHECK(
            s.next(0) ==
            R"([{"sensor":"temperature","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":1,"up":12.345},)"
            R"({"sensor":"humidity","value":40,"ts":0,"boot":7,"seq":2,"up":12.4}])");
        CHECK(s.first == 1);
        CHECK(s.last == 2);
    }

    TEST_CASE("seqs are contiguous: refused readings use none") {
        session s({}, 2);
        CHECK(s.d.accept(0, 1, 0, 0) == core::accept_result::queued);
        CHECK(s.d.accept(5, 1, 0, 0) == core::accept_result::invalid);
        CHECK(s.d.accept(0, __builtin_nan(""), 0, 0) == core::accept_result::invalid);
        CHECK(s.d.accept(0, __builtin_inf(), 0, 0) == core::accept_result::invalid);
        CHECK(s.d.accept(0, 2, 0, 0) == core::accept_result::queued);
        CHECK(s.d.accept(0, 3, 0, 0) == core::accept_result::buffer_full);
        CHECK(s.d.last_seq() == 2);
        CHECK(s.d.counters().invalid == 3);
        CHECK(s.d.counters().buffer_full == 1);
    }

    TEST_CASE("an ack frees the buffer through its seq; others are ignored") {
        session s({}, 4);
        for (int i = 0; i < 4; ++i) {
            s.d.accept(0, i, 0, 0);
        }
        s.d.on_connected(0);
        CHECK_FALSE(s.next(0).empty());
        CHECK(s.d.on_ack(8, 2, 1) == core::ack_result::other_boot);
        CHECK(s.d.on_ack(7, 5, 1) == core::ack_result::out_of_range);
        CHECK(s.d.on_ack(7, 2, 1) == core::ack_result::progress);
        CHECK(s.d.buffered() == 2);
        CHECK(s.d.on_ack(7, 1, 1) == core::ack_result::duplicate);
        CHECK(s.d.accept(0, 9, 0, 0) == core::accept_result::queued);  // the ring wrapped
        CHECK(s.d.accept(0, 10, 0, 0) == core::accept_result::queued);
        CHECK(s.d.on_ack(7, 6, 2) == core::ack_result::progress);
        CHECK(s.d.buffered() == 0);
        CHECK(s.d.counters().acked == 6);
        CHECK(s.d.counters().ignored_acks == 2);
    }

    TEST_CASE("nothing goes out while disconnected; a reconnect re-sends in order") {
        core::delivery_settings one;
        one.max_readings_per_message = 1;
        session s(one);
        for (int i = 0; i < 3; ++i) {
            s.d.accept(0, i, 0, 0);
        }
        CHECK(s.next(0).empty());
        s.d.on_connected(0);
        s.next(0);
        s.next(0);
        CHECK(s.last == 2);
        s.d.on_ack(7, 1, 5);
        s.d.on_disconnected();
        CHECK(s.next(6).empty());
        s.d.on_connected(10);
        s.next(10);
        CHECK(s.first == 2);  // the unacknowledged one again first
        s.next(10);
        CHECK(s.first == 3);
        CHECK(s.d.counters().sent == 3);
        CHECK(s.d.counters().resent == 1);
    }

    TEST_CASE(
        "without ack progress for the resend timeout, sending starts again at the first unacked") {
        core::delivery_settings st;
        st.resend_timeout_ms = 1000;
        st.max_readings_per_message = 2;
        session s(st);
        for (int i = 0; i < 4; ++i) {
            s.d.accept(0, i, 0, 0);
        }
        s.d.on_connected(0);
        s.next(0);
        s.next(0);
        CHECK(s.next(999).empty());
        CHECK(s.d.next_deadline_ms() == 1000);
        s.next(1000);
        CHECK(s.first == 1);
        CHECK(s.last == 2);
        s.next(1000);
        CHECK(s.last == 4);
        s.d.on_ack(7, 2, 1500);
        CHECK(s.next(2400).empty());  // 3..4 are in flight, the clock restarted at the ack
        s.next(2500);
        CHECK(s.first == 3);
    }

    TEST_CASE("the in-flight window and the byte limit bound a message") {
        core::delivery_settings st;
        st.max_in_flight = 3;
        st.max_readings_per_message = 10;
        st.max_message_bytes = 200;  // two readings of ~90 bytes
        session s(st);
        for (int i = 0; i < 6; ++i) {
            s.d.accept(0, i, 1732630000123, 1000);
        }
        s.d.on_connected(0);
        const std::string m = s.next(0);
        CHECK(m.size() < 200);
        CHECK(m.front() == '[');
        CHECK(s.last - s.first == 1);
        CHECK(s.next(0).front() == '{');  // the window leaves room for one: a bare object
        CHECK(s.d.in_flight() == 3);
        CHECK(s.next(0).empty());
        s.d.on_ack(7, 3, 1);
        CHECK_FALSE(s.next(1).empty());
        CHECK(s.first == 4);
    }

    TEST_CASE("backoff: decorrelated jitter between initial and previous * multiplier, capped") {
        core::backoff b({100, 1000, 3});
        CHECK(b.next(0) == 100);
        CHECK(b.next(0xFFFFFFFFu) == 300);
        CHECK(b.next(0xFFFFFFFFu) == 900);
        CHECK(b.next(0xFFFFFFFFu) == 1000);
        const std::uint32_t mid = b.next(0x80000000u);
        CHECK(mid >= 500);
        CHECK(mid <= 600);
        b.reset();
        CHECK(b.next(0xFFFFFFFFu) == 300);
        core::backoff zero({0, 0, 0});
        CHECK(zero.next(12345) == 1);
    }

    TEST_CASE("alert rules fire once past the threshold and re-arm past the hysteresis") {
        core::alert_rules<2> rules;
        REQUIRE(rules.add({0, core::alert_direction::above, 30, 1}));
        REQUIRE(rules.add({1, core::alert_direction::below, 20, 0}));
        CHECK_FALSE(rules.add({1, core::alert_direction::below, 10, 0}));
        std::vector<core::alert_event> fired;
        auto feed = [&](std::uint8_t sensor, double v) {
            rules.evaluate(sensor, v, 5, 6,
                           [&](const core::alert_event& a) { fired.push_back(a); });
        };
        feed(0, 29);
        feed(0, 31);
        feed(0, 32);
        feed(0, 29.5);  // not back below 29
        feed(0, 31);
        CHECK(fired.size() == 1);
        feed(0, 28.9);
        feed(0, 30.5);
        REQUIRE(fired.size() == 2);
        CHECK(fired[1].value == 30.5);
        CHECK(fired[1].threshold == 30);
        CHECK(fired[1].up_ms == 6);
        feed(1, 19);
        REQUIRE(fired.size() == 3);
        CHECK(fired[2].direction == core::alert_direction::below);
        CHECK(std::string(core::to_string(fired[2].direction)) == "below");
    }
}
