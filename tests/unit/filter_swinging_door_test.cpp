// Swinging-door mode of the significant-change filter: hand-computed series.
#include <doctest/doctest.h>

#include <optional>
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
    std::optional<double> emitted_ts;  // ts of the emitted held reading
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
        step s{result.decision, std::nullopt};
        if (result.emit) {
            s.emitted_ts = result.emit->ts;
            out.kept.push_back({result.emit->ts, result.emit->value});
        }
        if (result.decision != fd::drop) {
            out.kept.push_back({p.ts, p.value});
        }
        out.steps.push_back(s);
    }
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

TEST_CASE("swinging door: a hand-computed series (E = 1)") {
    significant_change_filter filter(with_default(door_rule(1)));
    // Slope ranges from the anchor, worked by hand:
    //  (1,1) held, unbounded. (2,2): held (1,1) gives [0,2], slope 1 fits.
    //  (3,3): (2,2) gives [0.5,1.5], slope 1 fits. (4,1): (3,3) gives [2/3,4/3], slope 1/4
    //  misses: keep (3,3). (5,-1): from (3,3), (4,1) gives [-3,-1], slope -2 fits. (6,-1):
    //  (5,-1) gives [-2.5,-1.5], slope -4/3 misses: keep (5,-1). (7,-1): (6,-1) gives [-1,1],
    //  slope 0 fits. (8,-0.5): (7,-1) gives [-0.5,0.5], slope 1/6 fits. (9,1.5): (8,-0.5) gives
    //  [-1/6,1/2], slope 5/8 misses: keep (8,-0.5).
    const auto r = run(
        filter,
        {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 1}, {5, -1}, {6, -1}, {7, -1}, {8, -0.5}, {9, 1.5}});
    CHECK(r.steps == std::vector<step>{{fd::keep_first, {}},
                                       {fd::drop, {}},
                                       {fd::drop, {}},
                                       {fd::drop, {}},
                                       {fd::drop, 3.0},
                                       {fd::drop, {}},
                                       {fd::drop, 5.0},
                                       {fd::drop, {}},
                                       {fd::drop, {}},
                                       {fd::drop, 8.0}});
    const auto last = filter.flush("d1", "s");
    REQUIRE(last.has_value());
    CHECK(last->ts == 9);
    CHECK(last->value == 1.5);
    CHECK(last->seq == 10);
    CHECK_FALSE(filter.flush("d1", "s").has_value());

    const auto& c = filter.counters().at("default");
    CHECK(c.kept_first == 1);
    CHECK(c.kept_change == 4);  // 3 emitted + 1 flushed
    CHECK(c.dropped == 5);
}

TEST_CASE("swinging door: the line between kept points is checked, not just the door") {
    // Classic SDT keeps (0,0) and (10,-1.5): the line misses (1,0.9) by 1.05 > E.
    significant_change_filter filter(with_default(door_rule(1)));
    const auto r = run(filter, {{0, 0}, {1, 0.9}, {10, -1.5}});
    CHECK(r.steps == std::vector<step>{{fd::keep_first, {}}, {fd::drop, {}}, {fd::drop, 1.0}});
}

TEST_CASE("swinging door: a reading exactly E off the line may be dropped") {
    significant_change_filter filter(with_default(door_rule(1)));
    auto r = run(filter, {{0, 0}, {1, 1}, {2, 0}, {3, 0}});
    CHECK(r.steps ==
          std::vector<step>{{fd::keep_first, {}}, {fd::drop, {}}, {fd::drop, {}}, {fd::drop, {}}});
    // Just over E is not.
    significant_change_filter other(with_default(door_rule(1)));
    r = run(other, {{0, 0}, {1, 1.001}, {2, 0}});
    CHECK(r.steps == std::vector<step>{{fd::keep_first, {}}, {fd::drop, {}}, {fd::drop, 1.0}});
}

TEST_CASE("swinging door: a straight line keeps only its ends") {
    significant_change_filter filter(with_default(door_rule(0.01)));
    std::vector<series_point> points;
    for (int i = 0; i <= 100; ++i) {
        points.push_back({1732630000.0 + i, 20.0 + 0.1 * i});
    }
    const auto r = run(filter, points);
    CHECK(r.kept.size() == 1);
    const auto last = filter.flush("d1", "s");
    REQUIRE(last.has_value());
    CHECK(last->seq == 101);
}

TEST_CASE("swinging door: heartbeat keeps the newest reading when the segment is long") {
    significant_change_filter filter(with_default(door_rule(10, 5)));
    std::vector<series_point> points;
    for (int i = 0; i <= 11; ++i) {
        points.push_back({1.0 * i, 0});
    }
    const auto r = run(filter, points);
    std::vector<step> expected(12, step{fd::drop, {}});
    expected[0] = {fd::keep_first, {}};
    expected[5] = {fd::keep_heartbeat, {}};
    expected[10] = {fd::keep_heartbeat, {}};
    CHECK(r.steps == expected);
    CHECK(filter.counters().at("default").dropped == 8);  // 1-4, 6-9; 11 is still held
}

TEST_CASE("swinging door: heartbeat due when the door closes keeps both") {
    significant_change_filter filter(with_default(door_rule(1, 5)));
    const auto r = run(filter, {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 3}});
    CHECK(r.steps.back() == step{fd::keep_heartbeat, 4.0});
    CHECK(same_points(r.kept, {{0, 0}, {4, 0}, {5, 3}}));
}

TEST_CASE("swinging door: a gap emits the held reading and keeps the new one") {
    significant_change_filter filter(with_default(door_rule(1, 10)));
    const auto r = run(filter, {{0, 0}, {5, 0}, {16, 7}, {17, 7}});
    CHECK(r.steps ==
          std::vector<step>{
              {fd::keep_first, {}}, {fd::drop, {}}, {fd::keep_gap, 5.0}, {fd::drop, {}}});
}

TEST_CASE("swinging door: a clock going back emits the held reading and restarts") {
    significant_change_filter filter(with_default(door_rule(1)));
    const auto r = run(filter, {{100, 0}, {101, 0}, {50, 3}, {51, 3}});
    CHECK(r.steps ==
          std::vector<step>{
              {fd::keep_first, {}}, {fd::drop, {}}, {fd::keep_gap, 101.0}, {fd::drop, {}}});
}

TEST_CASE("swinging door: readings at the anchor's own timestamp") {
    significant_change_filter filter(with_default(door_rule(1)));
    const auto r = run(filter, {{0, 0}, {0, 0.5}, {0, 2}, {0, 2.5}, {1, 2}});
    CHECK(r.steps == std::vector<step>{{fd::keep_first, {}},
                                       {fd::drop, {}},
                                       {fd::keep_change, {}},
                                       {fd::drop, {}},
                                       {fd::drop, {}}});
    // Right after a door closes, the new anchor can share r's timestamp.
    significant_change_filter other(with_default(door_rule(1)));
    const auto s = run(other, {{0, 0}, {1, 0}, {1, 5}});
    CHECK(s.steps ==
          std::vector<step>{{fd::keep_first, {}}, {fd::drop, {}}, {fd::keep_change, 1.0}});
}

TEST_CASE("swinging door: min_interval caps the rate at the cost of the bound") {
    significant_change_filter filter(with_default(door_rule(1, 0, 5)));
    // (2,0) closes the door on held (1,5), but 1 < 5 after the anchor: (1,5) is dropped and
    // (2,0) held afresh. (6,10) closes it on (2,0), again too soon; (6,10) itself is 6 >= 5
    // after the anchor, so it is kept as a change.
    const auto r = run(filter, {{0, 0}, {1, 5}, {2, 0}, {6, 10}});
    CHECK(r.steps ==
          std::vector<step>{
              {fd::keep_first, {}}, {fd::drop, {}}, {fd::drop, {}}, {fd::keep_change, {}}});
    const auto& c = filter.counters().at("default");
    CHECK(c.dropped == 2);
    CHECK(c.kept_change == 1);
}

TEST_CASE("swinging door: the newest kept reading never lags by a heartbeat or more") {
    const double heartbeat = 7;
    significant_change_filter filter(with_default(door_rule(0.5, heartbeat)));
    double ts = 0;
    double value = 0;
    double last_kept = 0;
    for (int i = 0; i < 2000; ++i) {
        ts += 0.25 + (i % 7) * 0.5;
        value += (i % 11 == 0) ? 0.3 : -0.02;
        const auto result = filter.apply(make(ts, value, static_cast<std::uint64_t>(i) + 1));
        if (result.emit) {
            CHECK(result.emit->ts > last_kept);
            // Held only until this reading, which came within the heartbeat.
            CHECK(ts - result.emit->ts <= heartbeat);
            last_kept = result.emit->ts;
        }
        if (result.decision != fd::drop) {
            last_kept = ts;
        }
        CHECK(ts - last_kept < heartbeat);
    }
}

}  // namespace fogbridge
