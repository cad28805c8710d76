// The portable core's delivery rules (delivery_cases.hpp), backoff and alert rules: Sans-I/O,
// time as an argument.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "delivery_cases.hpp"
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
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_1, std::tuple<session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_2, std::tuple<session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_3, std::tuple<session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_4, std::tuple<session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_5, std::tuple<session>);
    TEST_CASE_TEMPLATE_APPLY(delivery_rule_6, std::tuple<session>);

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
