// Swinging-door mode of the significant-change filter: hand-computed series.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "filter/reconstruct.hpp"
#include "filter/significant_change_filter.hpp"

namespace fogbridge {
namespace {

using fd = filter_decision;

filter_rule door_rule(double deviation, double heartbeat = 0, double min_interval = 0) {
    filter_rule rule;
    rule.name = "default";
    rule.mode = filter_mode::swinging_door;
    rule.deviation = deviation;
    rule.heartbeat = heartbeat;
    rule.min_interval = min_interval;
    return rule;
}

filter_settings with_default(const filter_rule& rule) {
    filter_settings settings;
    settings.default_rule = rule;
    return settings;
}

struct step {
    fd decision;
    std::vector<double> emitted_ts;  // ts of the emitted held readings
    bool operator==(const step&) const = default;
};

reading make(double ts, double value, std::uint64_t seq) {
    return {
        .device = "d1", .sensor = "s", .value = value, .unit = "", .ts = ts, .boot = 1, .seq = seq};
}

struct run_result {
    std::vector<step> steps;
    std::vector<series_point> kept;  // in forwarding order
};

run_result run(significant_change_filter& filter, const std::vector<series_point>& points) {
    run_result out;
    std::uint64_t seq = 0;
    for (const auto& p : points) {
        const auto result = filter.apply(make(p.ts, p.value, ++seq));
        step s{result.decision, {}};
        for (const auto& held : result.emit) {
            s.emitted_ts.push_back(held.ts);
            out.kept.push_back({held.ts, held.value});
        }
        if (result.decision != fd::drop) {
            out.kept.push_back({p.ts, p.value});
        }
        out.steps.push_back(s);
    }
    return out;
}

// (ts, value) of the readings flush() returns.
std::vector<series_point> flushed(significant_change_filter& filter) {
    std::vector<series_point> out;
    for (const auto& r : filter.flush("d1", "s")) {
        out.push_back({r.ts, r.value});
    }
    return out;
}

// Steps that are all drops except the first reading's keep_first.
std::vector<step> first_then_drops(std::size_t n) {
    std::vector<step> out(n, step{fd::drop, {}});
    out.front() = {fd::keep_first, {}};
    return out;
}

bool same_points(const std::vector<series_point>& a, const std::vector<series_point>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].ts != b[i].ts || a[i].value != b[i].value) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("swinging door: a step costs one kept point, not two") {
    significant_change_filter filter(with_default(door_rule(1)));
    // Fewest kept points to each reading from (0,0), worked by hand: (1,0) (2,0) (3,0): 1, the
    // flat line. (4,3): the lines from (0,0), (1,0), (2,0) miss the zeros before it by more than
    // 1, so 2, via (3,0). (5,3): the line from (2,0) passes (3,1) and (4,2), within 1 of (3,0)
    // and (4,3): 2, via (2,0). Keeping the reading before the step and the one after it, as a
    // swinging door settled at each reading would, costs one more.
    const auto r = run(filter, {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 3}, {5, 3}});
    CHECK(r.steps == first_then_drops(6));  // no heartbeat: everything stays held
    CHECK(same_points(flushed(filter), {{2, 0}, {5, 3}}));
    const auto& c = filter.counters().at("default");
    CHECK(c.kept_first == 1);
    CHECK(c.kept_change == 2);
    CHECK(c.dropped == 3);
}

TEST_CASE("swinging door: a hand-computed series (E = 1)") {
    significant_change_filter filter(with_default(door_rule(1)));
    // No line from (0,0) passes within 1 of both (3,3) and (4,1) (slopes [2/3,4/3] and
    // [0,1/2]), so a point up to (4,1) is kept: the latest that leads to the fewest, (3,3).
    // From (3,3) the line to (5,-1) fits (4,1) exactly; the one to (6,-1) misses (5,-1) by 4/3.
    // From (5,-1) the line to (8,-0.5) passes within 1 of (6,-1) and (7,-1); the one to
    // (9,1.5) misses (7,-1) by 1.25. Five points in all, the fewest possible here.
    const auto r = run(
        filter,
        {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 1}, {5, -1}, {6, -1}, {7, -1}, {8, -0.5}, {9, 1.5}});
    CHECK(r.steps == first_then_drops(10));
    const auto kept = filter.flush("d1", "s");
    REQUIRE(kept.size() == 4);
    CHECK(kept[0].seq == 4);
    CHECK(kept[1].seq == 6);
    CHECK(kept[2].seq == 9);
    CHECK(kept[3].seq == 10);
    CHECK(kept[3].value == 1.5);
    CHECK(filter.flush("d1", "s").empty());

    const auto& c = filter.counters().at("default");
    CHECK(c.kept_first == 1);
    CHECK(c.kept_change == 4);
    CHECK(c.dropped == 5);
}

TEST_CASE("swinging door: the line between kept points is checked, not just the door") {
    // Classic SDT keeps (0,0) and (10,-1.5): the line misses (1,0.9) by 1.05 > E.
    significant_change_filter filter(with_default(door_rule(1)));
    run(filter, {{0, 0}, {1, 0.9}, {10, -1.5}});
    CHECK(same_points(flushed(filter), {{1, 0.9}, {10, -1.5}}));
}

TEST_CASE("swinging door: a reading exactly E off the line may be dropped") {
    significant_change_filter filter(with_default(door_rule(1)));
    run(filter, {{0, 0}, {1, 1}, {2, 0}, {3, 0}});
    CHECK(same_points(flushed(filter), {{3, 0}}));
    // Just over E is not.
    significant_change_filter other(with_default(door_rule(1)));
    run(other, {{0, 0}, {1, 1.001}, {2, 0}});
    CHECK(same_points(flushed(other), {{1, 1.001}, {2, 0}}));
}

TEST_CASE("swinging door: a straight line keeps only its ends, past a full window") {
    significant_change_filter filter(with_default(door_rule(0.01)));
    std::vector<series_point> points;
    for (int i = 0; i <= 100; ++i) {
        points.push_back({1732630000.0 + i, 20.0 + 0.1 * i});
    }
    const auto r = run(filter, points);
    CHECK(r.kept.size() == 1);
    const auto last = filter.flush("d1", "s");
    REQUIRE(last.size() == 1);
    CHECK(last[0].seq == 101);
    CHECK(filter.counters().at("default").dropped == 99);
}

TEST_CASE("swinging door: a full window keeps its oldest reading when the line needs it") {
    // (1,10) is needed (no line from (0,0) passes it and a later 10). Held readings 1..33 are
    // one too many at ts 33: (1,10) is kept; from it on the flat line needs only its end.
    significant_change_filter filter(with_default(door_rule(1)));
    std::vector<series_point> points{{0, 0}};
    for (int i = 1; i <= 40; ++i) {
        points.push_back({static_cast<double>(i), 10});
    }
    const auto r = run(filter, points);
    auto expected = first_then_drops(41);
    expected[33] = {fd::drop, {1.0}};
    CHECK(r.steps == expected);
    CHECK(same_points(flushed(filter), {{40, 10}}));
    CHECK(door_max_held == 32);
}

TEST_CASE("swinging door: heartbeat keeps the newest reading when nothing was forwarded") {
    significant_change_filter filter(with_default(door_rule(10, 5)));
    std::vector<series_point> points;
    for (int i = 0; i <= 11; ++i) {
        points.push_back({1.0 * i, 0});
    }
    const auto r = run(filter, points);
    auto expected = first_then_drops(12);
    expected[5] = {fd::keep_heartbeat, {}};
    expected[10] = {fd::keep_heartbeat, {}};
    CHECK(r.steps == expected);
    CHECK(filter.counters().at("default").dropped == 8);  // 1-4, 6-9; 11 is still held
}

TEST_CASE("swinging door: a heartbeat keeps the best line's points before the newest reading") {
    // At (5,3) nothing was forwarded for 5 s: it is kept, and the line to it needs (4,0).
    significant_change_filter filter(with_default(door_rule(1, 5)));
    const auto r = run(filter, {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 3}});
    CHECK(r.steps.back() == step{fd::keep_heartbeat, {4.0}});
    CHECK(same_points(r.kept, {{0, 0}, {4, 0}, {5, 3}}));
}

TEST_CASE("swinging door: the line's next point is forwarded before a heartbeat is due") {
    // Heartbeat 4, one reading a second. At (3,2) the next reading would be due for a heartbeat
    // (4 s after the last forward at 0), so the first kept point of the best line to (3,2),
    // (2,0), is forwarded now (the line (0,0)-(2,0) fits (1,0); ties go to the later point).
    // Forwarded at 3, the next such moment is (6,2): the best line from (2,0) to it keeps
    // (4,2) (the line (2,0)-(4,2) passes (3,1), 1 from (3,2)).
    significant_change_filter filter(with_default(door_rule(1, 4)));
    const auto r = run(filter, {{0, 0}, {1, 0}, {2, 0}, {3, 2}, {4, 2}, {5, 2}, {6, 2}, {7, 2}});
    auto expected = first_then_drops(8);
    expected[3] = {fd::drop, {2.0}};
    expected[6] = {fd::drop, {4.0}};
    CHECK(r.steps == expected);
    CHECK(same_points(flushed(filter), {{7, 2}}));
}

TEST_CASE("swinging door: no reading is held longer than the heartbeat") {
    // Heartbeat 4. (1,0) is forwarded at 3 (as above); at (6,0), forwarded 3 s before, the best
    // line's next point (2,4) is. (3,4), held since 3, reaches 4 s at (7,0): it is settled then,
    // kept as the first point of the best line to (7,0).
    significant_change_filter filter(with_default(door_rule(1, 4)));
    const auto r = run(filter, {{0, 0}, {1, 0}, {2, 4}, {3, 4}, {4, 0}, {5, 0}, {6, 0}, {7, 0}});
    auto expected = first_then_drops(8);
    expected[3] = {fd::drop, {1.0}};
    expected[6] = {fd::drop, {2.0}};
    expected[7] = {fd::drop, {3.0}};
    CHECK(r.steps == expected);
    CHECK(same_points(flushed(filter), {{4, 0}, {7, 0}}));
}

TEST_CASE("swinging door: a gap emits the held reading and keeps the new one") {
    significant_change_filter filter(with_default(door_rule(1, 10)));
    const auto r = run(filter, {{0, 0}, {5, 0}, {16, 7}, {17, 7}});
    CHECK(r.steps ==
          std::vector<step>{
              {fd::keep_first, {}}, {fd::drop, {}}, {fd::keep_gap, {5.0}}, {fd::drop, {}}});
}

TEST_CASE("swinging door: a clock going back emits the held reading and restarts") {
    significant_change_filter filter(with_default(door_rule(1)));
    const auto r = run(filter, {{100, 0}, {101, 0}, {50, 3}, {51, 3}});
    CHECK(r.steps ==
          std::vector<step>{
              {fd::keep_first, {}}, {fd::drop, {}}, {fd::keep_gap, {101.0}}, {fd::drop, {}}});
}

TEST_CASE("swinging door: readings sharing a timestamp") {
    // (0,2) is more than E from (0,0) at the same instant, so no line from (0,0) goes on; from
    // (0,2) the flat line reaches (1,2), and (0,2.5) is within E of it.
    significant_change_filter filter(with_default(door_rule(1)));
    const auto r = run(filter, {{0, 0}, {0, 0.5}, {0, 2}, {0, 2.5}, {1, 2}});
    CHECK(r.steps == first_then_drops(5));
    CHECK(same_points(flushed(filter), {{0, 2}, {1, 2}}));
    // A reading at the instant of the one before it, too far from it: both kept.
    significant_change_filter other(with_default(door_rule(1)));
    run(other, {{0, 0}, {1, 0}, {1, 5}});
    CHECK(same_points(flushed(other), {{1, 0}, {1, 5}}));
}

TEST_CASE("swinging door: min_interval caps the rate at the cost of the bound") {
    significant_change_filter filter(with_default(door_rule(1, 0, 5)));
    // (1,5) and (2,0) are less than 5 s after (0,0), so neither can be kept; no line from (0,0)
    // to (6,10) passes them, but it is 6 s after it: kept, and the line misses them.
    const auto r = run(filter, {{0, 0}, {1, 5}, {2, 0}, {6, 10}});
    CHECK(r.steps == first_then_drops(4));
    CHECK(same_points(flushed(filter), {{6, 10}}));
    const auto& c = filter.counters().at("default");
    CHECK(c.dropped == 2);
    CHECK(c.kept_change == 1);
}

namespace {

// The heartbeat's guarantees on one series with readings at the given intervals: after each
// reading something was forwarded less than a heartbeat ago; consecutive kept points are at
// most a heartbeat apart (the later one no later than the first reading a heartbeat after the
// earlier); a kept held reading is emitted no later than the first reading a heartbeat after
// it, and `steady_hold` says it is held at most a heartbeat.
void check_heartbeat_guarantees(const std::vector<double>& intervals, double heartbeat,
                                bool steady_hold) {
    significant_change_filter filter(with_default(door_rule(0.5, heartbeat)));
    std::vector<series_point> series;
    std::vector<series_point> kept;
    double ts = 1732630000.0;
    double value = 0;
    double forwarded = ts;
    for (std::size_t i = 0; i < 3000; ++i) {
        ts += intervals[i % intervals.size()];
        value += (i % 11 == 0) ? 0.3 : ((i % 5 == 0) ? -0.7 : -0.02);
        const double previous_ts = series.empty() ? ts : series.back().ts;
        series.push_back({ts, value});
        const auto result = filter.apply(make(ts, value, i + 1));
        for (const auto& held : result.emit) {
            CHECK(previous_ts - held.ts < heartbeat);
            if (steady_hold) {
                CHECK(ts - held.ts <= heartbeat + 1e-6);
            }
            kept.push_back({held.ts, held.value});
        }
        if (result.decision != fd::drop) {
            kept.push_back({ts, value});
        }
        if (!result.emit.empty() || result.decision != fd::drop) {
            forwarded = ts;
        }
        CHECK(ts - forwarded < heartbeat);
    }
    for (const auto& held : filter.flush("d1", "s")) {
        kept.push_back({held.ts, held.value});
    }
    for (std::size_t k = 1; k < kept.size(); ++k) {
        CHECK(kept[k].ts > kept[k - 1].ts);
        for (const auto& p : series) {
            if (p.ts > kept[k - 1].ts && p.ts < kept[k].ts) {
                CHECK(p.ts - kept[k - 1].ts < heartbeat);
            }
        }
    }
    const auto error =
        measure_reconstruction({.kept = kept, .original = series}, reconstruct_mode::linear);
    CHECK(error.max_abs <= 0.5 + 1e-9);
}

}  // namespace

TEST_CASE("swinging door: heartbeat guarantees at a steady and an irregular rate") {
    check_heartbeat_guarantees({1.0}, 7.5, true);
    check_heartbeat_guarantees({1.0}, 7, true);
    check_heartbeat_guarantees({0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25}, 7, false);
}

}  // namespace fogbridge
