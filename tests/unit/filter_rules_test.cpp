// Rule selection of the significant-change filter: globs, order, default rule, reload, checks.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "filter/glob.hpp"
#include "filter/significant_change_filter.hpp"

namespace fogbridge {
namespace {

filter_rule named(std::string name, std::string match, double deadband) {
    filter_rule rule;
    rule.name = std::move(name);
    rule.match = std::move(match);
    rule.deadband = deadband;
    return rule;
}

filter_settings three_rules() {
    filter_settings settings;
    settings.rules = {named("boiler_pressure", "boiler-*/pressure", 1),
                      named("temperatures", "*/temperature", 0.5),
                      named("boilers", "boiler-*/*", 5)};
    settings.default_rule.deadband = 2;
    return settings;
}

reading make(std::string device, std::string sensor, double ts, double value) {
    return {.device = std::move(device),
            .sensor = std::move(sensor),
            .value = value,
            .unit = "",
            .ts = ts,
            .boot = 1,
            .seq = 1};
}

}  // namespace

TEST_CASE("glob: '*' stays within one path level, '?' is one character") {
    CHECK(glob_match(glob_pattern{"*/temperature"}, "boiler-1/temperature"));
    CHECK(glob_match(glob_pattern{"*/temperature"}, "/temperature"));
    CHECK_FALSE(glob_match(glob_pattern{"*/temperature"}, "a/b/temperature"));
    CHECK_FALSE(glob_match(glob_pattern{"*/temperature"}, "boiler-1/temperature2"));
    CHECK(glob_match(glob_pattern{"boiler-*/pressure"}, "boiler-12/pressure"));
    CHECK_FALSE(glob_match(glob_pattern{"boiler-*/pressure"}, "boiler-1/x/pressure"));
    CHECK_FALSE(glob_match(glob_pattern{"boiler-*/pressure"}, "pump-1/pressure"));
    CHECK(glob_match(glob_pattern{"*/*"}, "d/s"));
    CHECK_FALSE(glob_match(glob_pattern{"*/*"}, "ds"));
    CHECK(glob_match(glob_pattern{"d?/s"}, "d1/s"));
    CHECK_FALSE(glob_match(glob_pattern{"d?/s"}, "d/s"));
    CHECK_FALSE(glob_match(glob_pattern{"d?s"}, "d/s"));
    CHECK(glob_match(glob_pattern{"*"}, ""));
    CHECK_FALSE(glob_match(glob_pattern{""}, "x"));
    CHECK(glob_match(glob_pattern{""}, ""));
    CHECK(glob_match(glob_pattern{"**a*"}, "bab"));
    CHECK(glob_match(glob_pattern{"*a*b*/c"}, "xaybz/c"));
    CHECK_FALSE(glob_match(glob_pattern{"*a*b*/c"}, "xa/ybz/c"));
    CHECK(glob_match(glob_pattern{"d1/exact"}, "d1/exact"));
    CHECK_FALSE(glob_match(glob_pattern{"d1/exact"}, "d1/exac"));
}

TEST_CASE("rules: the first matching rule wins, else the default rule") {
    const significant_change_filter filter(three_rules());
    CHECK(filter.rule_for("boiler-1", "pressure").name == "boiler_pressure");
    CHECK(filter.rule_for("boiler-1", "temperature").name == "temperatures");
    CHECK(filter.rule_for("boiler-1", "flow").name == "boilers");
    CHECK(filter.rule_for("room", "temperature").name == "temperatures");
    CHECK(filter.rule_for("room", "humidity").name == "default");
}

TEST_CASE("rules: decisions and counters follow the matched rule") {
    significant_change_filter filter(three_rules());
    // A move of 1.5 passes boiler_pressure (1) and temperatures (0.5), not boilers (5) or
    // default (2).
    for (const auto& [device, sensor] : {std::pair{"boiler-1", "pressure"},
                                         {"boiler-1", "temperature"},
                                         {"boiler-1", "flow"},
                                         {"room", "humidity"}}) {
        CHECK(filter.apply(make(device, sensor, 0, 10)).decision == filter_decision::keep_first);
    }
    CHECK(filter.apply(make("boiler-1", "pressure", 1, 11.5)).decision ==
          filter_decision::keep_change);
    CHECK(filter.apply(make("boiler-1", "temperature", 1, 11.5)).decision ==
          filter_decision::keep_change);
    CHECK(filter.apply(make("boiler-1", "flow", 1, 11.5)).decision == filter_decision::drop);
    CHECK(filter.apply(make("room", "humidity", 1, 11.5)).decision == filter_decision::drop);

    const auto& c = filter.counters();
    REQUIRE(c.size() == 4);
    CHECK(c.at("boiler_pressure").kept_first == 1);
    CHECK(c.at("boiler_pressure").kept_change == 1);
    CHECK(c.at("temperatures").kept_change == 1);
    CHECK(c.at("boilers").dropped == 1);
    CHECK(c.at("default").kept_first == 1);
    CHECK(c.at("default").dropped == 1);
    CHECK(c.at("default").kept_change == 0);
}

TEST_CASE("reload: rules are replaced, per-series state and counters are kept") {
    significant_change_filter filter(three_rules());
    CHECK(filter.apply(make("room", "humidity", 0, 50)).decision == filter_decision::keep_first);
    CHECK(filter.apply(make("room", "humidity", 1, 51)).decision == filter_decision::drop);

    auto settings = three_rules();
    settings.rules.insert(settings.rules.begin(), named("humidity", "*/humidity", 0.5));
    filter.reload(settings);
    // Not a first reading: the series remembers 50 as its last forwarded value.
    CHECK(filter.apply(make("room", "humidity", 2, 50.4)).decision == filter_decision::drop);
    CHECK(filter.apply(make("room", "humidity", 3, 50.5)).decision == filter_decision::keep_change);
    CHECK(filter.rule_for("room", "humidity").name == "humidity");
    CHECK(filter.counters().at("default").dropped == 1);
    CHECK(filter.counters().at("humidity").dropped == 1);
    CHECK(filter.counters().at("humidity").kept_change == 1);
}

TEST_CASE("reload: a swinging-door segment left open is closed under a deadband rule") {
    filter_settings door;
    door.default_rule.mode = filter_mode::swinging_door;
    door.default_rule.deviation = 1;
    significant_change_filter filter(door);
    CHECK(filter.apply(make("d", "s", 0, 0)).decision == filter_decision::keep_first);
    CHECK(filter.apply(make("d", "s", 1, 0.5)).decision == filter_decision::drop);  // held

    filter_settings deadband;
    deadband.default_rule.deadband = 1;
    filter.reload(deadband);
    const auto result = filter.apply(make("d", "s", 2, 1.2));
    REQUIRE(result.emit.size() == 1);
    CHECK(result.emit[0].ts == 1);
    CHECK(result.decision == filter_decision::drop);  // 0.7 from the emitted 0.5
    CHECK(filter.apply(make("d", "s", 3, 1.5)).decision == filter_decision::keep_change);
}

TEST_CASE("reload: an open swinging-door segment is planned again under the new deviation") {
    filter_settings wide;
    wide.default_rule.mode = filter_mode::swinging_door;
    wide.default_rule.deviation = 1;
    filter_settings narrow = wide;
    narrow.default_rule.deviation = 0.5;
    for (const bool reload : {false, true}) {
        CAPTURE(reload);
        significant_change_filter filter(wide);
        filter.apply(make("d", "s", 0, 0));
        filter.apply(make("d", "s", 1, 0.9));
        filter.apply(make("d", "s", 2, 0));
        if (reload) {
            filter.reload(narrow);
        }
        // The line (0,0)-(2,0) passes within 1 of (1,0.9), not within 0.5.
        const auto kept = filter.flush("d", "s");
        REQUIRE(kept.size() == (reload ? 2u : 1u));
        CHECK(kept.back().ts == 2);
    }
}

TEST_CASE("check_filter_settings names the rule and the key") {
    CHECK_FALSE(check_filter_settings(three_rules()).has_value());
    CHECK_FALSE(check_filter_settings(filter_settings{}).has_value());

    auto bad = three_rules();
    bad.rules[1].deadband = -1;
    CHECK(check_filter_settings(bad) ==
          "filter rule 'temperatures': deadband must be a finite number >= 0, got -1");

    bad = three_rules();
    bad.default_rule.heartbeat = std::numeric_limits<double>::quiet_NaN();
    CHECK(check_filter_settings(bad) ==
          "filter rule 'default': heartbeat must be a finite number >= 0, got nan");

    bad = three_rules();
    bad.rules[2].name = "temperatures";
    CHECK(check_filter_settings(bad) == "filter rule 'temperatures' is defined twice");

    bad = three_rules();
    bad.rules[0].name = "default";
    CHECK(check_filter_settings(bad) ==
          "filter rule name 'default' is reserved for the default rule");

    bad = three_rules();
    bad.rules[0].heartbeat = 10;
    bad.rules[0].min_interval = 20;
    CHECK(check_filter_settings(bad) ==
          "filter rule 'boiler_pressure': heartbeat (10) is shorter than min_interval (20)");

    bad = three_rules();
    bad.rules[0].match = "";
    CHECK(check_filter_settings(bad) == "filter rule 'boiler_pressure': empty match");

    bad = three_rules();
    bad.rules[0].name = "";
    CHECK(check_filter_settings(bad) == "filter rule with an empty name");
}

TEST_CASE("filter_mode and filter_decision names") {
    CHECK(to_string(filter_mode::swinging_door) == "swinging_door");
    CHECK(filter_mode_from_string("deadband") == filter_mode::deadband);
    CHECK_FALSE(filter_mode_from_string("door").has_value());
    CHECK(to_string(filter_decision::keep_heartbeat) == "keep_heartbeat");
}

}  // namespace fogbridge
