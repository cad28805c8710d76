// Deadband mode of the significant-change filter: exact decisions on hand-made series.
#include <doctest/doctest.h>

#include <limits>
#include <vector>

#include "filter/significant_change_filter.hpp"

namespace fogbridge {
namespace {

using fd = filter_decision;

filter_settings with_default(filter_rule rule) {
    rule.name = "default";
    filter_settings settings;
    settings.default_rule = rule;
    return settings;
}

filter_rule deadband_rule(double deadband, double pct = 0) {
    filter_rule rule;
    rule.deadband = deadband;
    rule.deadband_pct = pct;
    return rule;
}

struct point {
    double ts;
    double value;
};

// Applies the points to one series and returns the decisions; no reading is ever held here.
std::vector<fd> run(significant_change_filter& filter, const std::vector<point>& points) {
    std::vector<fd> out;
    std::uint64_t seq = 0;
    for (const auto& p : points) {
        const auto result = filter.apply({.device = "d1",
                                          .sensor = "s",
                                          .value = p.value,
                                          .unit = "",
                                          .ts = p.ts,
                                          .boot = 1,
                                          .seq = ++seq});
        CHECK(result.emit.empty());
        out.push_back(result.decision);
    }
    return out;
}

std::vector<fd> run(const filter_rule& rule, const std::vector<point>& points) {
    significant_change_filter filter(with_default(rule));
    return run(filter, points);
}

}  // namespace

TEST_CASE("deadband: the first reading is kept") {
    CHECK(run(deadband_rule(100), {{0, 5}}) == std::vector{fd::keep_first});
}

TEST_CASE("deadband: a move exactly equal to the deadband passes, just below drops") {
    CHECK(run(deadband_rule(0.5), {{0, 20.0}, {1, 20.4}, {2, 20.5}, {3, 20.1}, {4, 20.0}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::drop, fd::keep_change});
    // 20.2 - 20.1 is 0.09999999999999787 in doubles: still "exactly" the deadband.
    CHECK(run(deadband_rule(0.1), {{0, 20.1}, {1, 20.2}}) ==
          std::vector{fd::keep_first, fd::keep_change});
    CHECK(run(deadband_rule(0.1), {{0, 20.1}, {1, 20.199999999}, {2, 20.0000000001}}) ==
          std::vector{fd::keep_first, fd::drop, fd::drop});
    // Downwards the same.
    CHECK(run(deadband_rule(0.1), {{0, 20.2}, {1, 20.1}}) ==
          std::vector{fd::keep_first, fd::keep_change});
}

TEST_CASE("deadband: a zero move never passes, a deadband in tiny units still works") {
    CHECK(run(deadband_rule(1e-9), {{0, 1e-6}, {1, 1e-6}, {2, 1.0005e-6}, {3, 1.001e-6}}) ==
          std::vector{fd::keep_first, fd::drop, fd::drop, fd::keep_change});
}

TEST_CASE("deadband_pct: percent of |last forwarded|, also for negative values") {
    // last -50: threshold 5; then last -55: threshold 5.5.
    CHECK(run(deadband_rule(0, 10), {{0, -50}, {1, -54.9}, {2, -55}, {3, -49.6}, {4, -49.5}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::drop, fd::keep_change});
}

TEST_CASE("deadband_pct: with last forwarded 0 any nonzero move passes") {
    CHECK(run(deadband_rule(0, 10), {{0, 0}, {1, 0}, {2, 0.001}, {3, 0.0010999}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::drop});
    // With an absolute deadband too, the smaller threshold (0) still decides.
    CHECK(run(deadband_rule(1, 10), {{0, 0}, {1, 0}, {2, -0.001}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change});
}

TEST_CASE("deadband and deadband_pct together: reaching either threshold passes") {
    // last 100: thresholds 1 and 10, so 1 decides.
    CHECK(run(deadband_rule(1, 10), {{0, 100}, {1, 100.9}, {2, 101}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change});
    // last 5: thresholds 1 and 0.5, so 0.5 decides.
    CHECK(run(deadband_rule(1, 10), {{0, 5}, {1, 5.4}, {2, 5.5}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change});
}

TEST_CASE("deadband: all thresholds 0 is a pass-through rule") {
    CHECK(run(deadband_rule(0), {{0, 1}, {1, 1}, {2, 1}}) ==
          std::vector{fd::keep_first, fd::keep_change, fd::keep_change});
}

TEST_CASE("deadband: min_interval drops changes that come too soon") {
    auto rule = deadband_rule(0.5);
    rule.min_interval = 10;
    CHECK(run(rule, {{0, 0}, {5, 1}, {10, 1}, {15, 2}, {19.9, 2}, {20, 1}, {25, 3}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::drop, fd::drop, fd::drop,
                      fd::keep_change});
    // A pass-through rule with min_interval is a plain rate limit.
    auto limit = deadband_rule(0);
    limit.min_interval = 2;
    CHECK(run(limit, {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::drop, fd::keep_change});
}

TEST_CASE("deadband: heartbeat forwards the newest reading when nothing was forwarded") {
    auto rule = deadband_rule(0.5);
    rule.heartbeat = 10;
    CHECK(run(rule, {{0, 0}, {4, 0.1}, {8, 0.2}, {10, 0.3}, {15, 0}, {19, 0}, {20, 0.1}}) ==
          std::vector{fd::keep_first, fd::drop, fd::drop, fd::keep_heartbeat, fd::drop, fd::drop,
                      fd::keep_heartbeat});
}

TEST_CASE("deadband: a change that is also due for a heartbeat is keep_change") {
    auto rule = deadband_rule(0.5);
    rule.heartbeat = 10;
    CHECK(run(rule, {{0, 0}, {5, 0}, {10, 1}, {20, 1}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change, fd::keep_heartbeat});
}

TEST_CASE("deadband: heartbeat ignores min_interval only where the config allows it") {
    // heartbeat >= min_interval is what check_filter_settings accepts; equal is the edge.
    auto rule = deadband_rule(0.5);
    rule.heartbeat = 10;
    rule.min_interval = 10;
    CHECK(run(rule, {{0, 0}, {5, 1}, {10, 0}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_heartbeat});
}

TEST_CASE("deadband: a gap longer than the heartbeat is keep_gap") {
    auto rule = deadband_rule(0.5);
    rule.heartbeat = 10;
    // 5 -> 16 is a gap (11 > 10); 16 -> 26 is exactly 10, not a gap, but a heartbeat.
    CHECK(run(rule, {{0, 0}, {5, 0}, {16, 0}, {26, 0}, {27, 0}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_gap, fd::keep_heartbeat, fd::drop});
    // Without a heartbeat there is no gap detection.
    CHECK(run(deadband_rule(0.5), {{0, 0}, {1000, 0}}) == std::vector{fd::keep_first, fd::drop});
}

TEST_CASE("deadband: a clock that goes back restarts the series with keep_gap") {
    CHECK(run(deadband_rule(0.5), {{100, 0}, {101, 0}, {50, 0}, {51, 0}, {51, 0.5}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_gap, fd::drop, fd::keep_change});
    // An equal timestamp is not a clock going back.
    CHECK(run(deadband_rule(0.5), {{100, 0}, {100, 0}, {100, 1}}) ==
          std::vector{fd::keep_first, fd::drop, fd::keep_change});
}

TEST_CASE("deadband: epoch-sized timestamps meet the heartbeat on time") {
    auto rule = deadband_rule(0.5);
    rule.heartbeat = 10;
    std::vector<point> points;
    for (int i = 0; i <= 20; ++i) {
        points.push_back({1732630000.1 + 1.0 * i, 0});
    }
    std::vector<fd> expected(21, fd::drop);
    expected[0] = fd::keep_first;
    expected[10] = fd::keep_heartbeat;
    expected[20] = fd::keep_heartbeat;
    CHECK(run(rule, points) == expected);
}

TEST_CASE("deadband: moved_enough on its own") {
    CHECK(moved_enough(deadband_rule(0.5), 1, 1.5));
    CHECK_FALSE(moved_enough(deadband_rule(0.5), 1, 1.4999));
    CHECK(moved_enough(deadband_rule(0, 50), -2, -1));
    CHECK_FALSE(moved_enough(deadband_rule(0, 50), -2, -1.01));
    CHECK(moved_enough(deadband_rule(0), 3, 3));
}

}  // namespace fogbridge

namespace fogbridge {

TEST_CASE("a non-finite reading is dropped without touching the series") {
    significant_change_filter filter(with_default(deadband_rule(0.5)));
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    const auto inf = std::numeric_limits<double>::infinity();
    CHECK(run(filter, {{0, 1}, {1, nan}, {inf, 1}, {2, 1.4}, {3, 1.5}}) ==
          std::vector{fd::keep_first, fd::drop, fd::drop, fd::drop, fd::keep_change});
    CHECK(filter.counters().at("default").dropped == 3);
    CHECK(filter.export_state("d1", "s") == R"({"anchor_ts":3.0,"anchor_value":1.5,)"
                                            R"("forwarded_ts":3.0,"received_ts":3.0,"v":2})");
}

}  // namespace fogbridge
