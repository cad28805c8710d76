#include "fogbridge/alerts.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

using fogbridge::alert_direction;
using fogbridge::alert_rule;
using fogbridge::alert_tracker;
using fogbridge::parse_alert_rule;

namespace {

// Feeds values one by one; returns the indexes (into values) that fired rule 0.
std::vector<int> fired_at(alert_tracker& t, const std::vector<double>& values) {
    std::vector<int> at;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!t.evaluate("temperature", values[i], static_cast<double>(i)).empty()) {
            at.push_back(static_cast<int>(i));
        }
    }
    return at;
}

}  // namespace

TEST_CASE("alerts: rules parse from text") {
    const auto above = parse_alert_rule("temperature>30");
    REQUIRE(above.has_value());
    CHECK(above->sensor == "temperature");
    CHECK(above->direction == alert_direction::above);
    CHECK(above->threshold == 30.0);
    CHECK(above->hysteresis == 0.0);

    const auto below = parse_alert_rule(" humidity < 20.5:2 ");
    REQUIRE(below.has_value());
    CHECK(below->sensor == "humidity");
    CHECK(below->direction == alert_direction::below);
    CHECK(below->threshold == 20.5);
    CHECK(below->hysteresis == 2.0);

    CHECK(parse_alert_rule("t>-5")->threshold == -5.0);
    CHECK_FALSE(parse_alert_rule("temperature=30").has_value());
    CHECK_FALSE(parse_alert_rule(">30").has_value());
    CHECK_FALSE(parse_alert_rule("temperature>").has_value());
    CHECK_FALSE(parse_alert_rule("temperature>hot").has_value());
    CHECK_FALSE(parse_alert_rule("temperature>30:").has_value());
    CHECK_FALSE(parse_alert_rule("temperature>30:-1").has_value());
    CHECK_FALSE(parse_alert_rule("a/b>30").has_value());
}

TEST_CASE("alerts: above fires on crossing and re-arms below threshold - hysteresis") {
    alert_tracker t;
    t.add(alert_rule{"temperature", alert_direction::above, 30.0, 1.0});
    //                                0     1     2     3     4     5     6     7
    CHECK(fired_at(t, {29.0, 30.0, 30.5, 31.0, 29.5, 29.0, 30.1, 35.0}) == std::vector<int>{2, 6});
    CHECK_FALSE(t.armed(0));
}

TEST_CASE("alerts: below fires on crossing and re-arms above threshold + hysteresis") {
    alert_tracker t;
    t.add(alert_rule{"temperature", alert_direction::below, 5.0, 0.5});
    CHECK(fired_at(t, {6.0, 4.9, 4.0, 5.4, 5.5, 4.99}) == std::vector<int>{1, 5});
}

TEST_CASE("alerts: without hysteresis the threshold itself re-arms") {
    alert_tracker t;
    t.add(alert_rule{"temperature", alert_direction::above, 30.0, 0.0});
    CHECK(fired_at(t, {31.0, 30.0, 30.01, 30.5}) == std::vector<int>{0, 2});
}

TEST_CASE("alerts: an event carries the reading, the rule and its index") {
    alert_tracker t;
    t.add(alert_rule{"humidity", alert_direction::below, 20.0, 0.0});
    const auto second = t.add(alert_rule{"temperature", alert_direction::above, 30.0, 0.0});
    const auto third = t.add(alert_rule{"temperature", alert_direction::above, 25.0, 0.0});
    CHECK(t.evaluate("pressure", 1000.0, 1.0).empty());
    const auto events = t.evaluate("temperature", 31.25, 1732630000.5);
    REQUIRE(events.size() == 2);
    CHECK(events[0] == fogbridge::alert_event{"temperature", 31.25, 30.0, alert_direction::above,
                                              1732630000.5, second});
    CHECK(events[1].rule == third);
    CHECK(t.armed(0));
}

TEST_CASE("alerts: NaN neither fires nor re-arms") {
    alert_tracker t;
    t.add(alert_rule{"temperature", alert_direction::above, 30.0, 0.0});
    CHECK(t.evaluate("temperature", std::numeric_limits<double>::quiet_NaN(), 0).empty());
    CHECK(t.armed(0));
    CHECK(t.evaluate("temperature", 31.0, 0).size() == 1);
    CHECK(t.evaluate("temperature", std::numeric_limits<double>::quiet_NaN(), 0).empty());
    CHECK_FALSE(t.armed(0));
}
