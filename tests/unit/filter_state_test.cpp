// Persistence of the significant-change filter: export/import, restarts mid-segment, dirty set.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "filter/significant_change_filter.hpp"

namespace fogbridge {
namespace {

using fd = filter_decision;

filter_settings door_settings() {
    filter_settings settings;
    settings.default_rule.mode = filter_mode::swinging_door;
    settings.default_rule.deviation = 0.4;
    settings.default_rule.heartbeat = 20;
    return settings;
}

filter_settings deadband_settings() {
    filter_settings settings;
    settings.default_rule.deadband = 0.4;
    settings.default_rule.heartbeat = 20;
    return settings;
}

reading make(double ts, double value, std::uint64_t seq, std::string device = "d1") {
    return {.device = std::move(device),
            .sensor = "temperature",
            .value = value,
            .unit = "C",
            .ts = ts,
            .boot = 3,
            .seq = seq};
}

std::vector<reading> wandering_series(std::uint64_t seed, int n) {
    std::mt19937_64 gen(seed);
    const auto uniform = [&gen] { return static_cast<double>(gen() >> 11) * 0x1.0p-53; };
    std::vector<reading> out;
    double ts = 1732630000.0;
    double value = 20;
    for (int i = 0; i < n; ++i) {
        ts += 0.5 + uniform() * (uniform() < 0.02 ? 40 : 2);  // some gaps
        value += (uniform() - 0.5) * 0.6;
        out.push_back(make(ts, value, static_cast<std::uint64_t>(i) + 1));
    }
    return out;
}

// Everything forwarded, in order: emitted held readings, then the kept ones.
void forward(const filter_result& result, const reading& r, std::vector<reading>& out) {
    out.insert(out.end(), result.emit.begin(), result.emit.end());
    if (result.decision != fd::drop) {
        out.push_back(r);
    }
}

std::vector<reading> run_whole(const filter_settings& settings, const std::vector<reading>& in) {
    significant_change_filter filter(settings);
    std::vector<reading> out;
    for (const auto& r : in) {
        forward(filter.apply(r), r, out);
    }
    return out;
}

std::vector<reading> run_split(const filter_settings& settings, const std::vector<reading>& in,
                               std::size_t split) {
    std::vector<reading> out;
    std::string state;
    {
        significant_change_filter before(settings);
        for (std::size_t i = 0; i < split; ++i) {
            forward(before.apply(in[i]), in[i], out);
        }
        state = before.export_state("d1", "temperature");
    }
    significant_change_filter after(settings);
    if (split > 0) {
        CHECK(after.import_state("d1", "temperature", state));
    }
    for (std::size_t i = split; i < in.size(); ++i) {
        forward(after.apply(in[i]), in[i], out);
    }
    return out;
}

}  // namespace

TEST_CASE("state: a restart at any point gives the same kept readings") {
    for (const auto& settings : {door_settings(), deadband_settings()}) {
        const auto series = wandering_series(7, 300);
        const auto whole = run_whole(settings, series);
        CHECK(whole.size() > 20);
        CHECK(whole.size() < 200);
        for (std::size_t split = 0; split <= series.size(); ++split) {
            CAPTURE(split);
            REQUIRE(run_split(settings, series, split) == whole);
        }
    }
}

TEST_CASE("state: the held readings of an open segment are in the exported state") {
    significant_change_filter filter(door_settings());
    CHECK(filter.apply(make(100, 1, 1)).decision == fd::keep_first);
    CHECK(filter.apply(make(101, 1.1, 2)).decision == fd::drop);
    CHECK(filter.apply(make(102, 1.5, 3)).decision == fd::drop);
    const std::string state = filter.export_state("d1", "temperature");
    CHECK(state == R"({"anchor_ts":100.0,"anchor_value":1.0,"forwarded_ts":100.0,"held":[)"
                   R"({"boot":3,"seq":2,"ts":101.0,"unit":"C","value":1.1},)"
                   R"({"boot":3,"seq":3,"ts":102.0,"unit":"C","value":1.5}],)"
                   R"("received_ts":102.0,"slope_hi":null,"slope_lo":null,"v":2})");

    significant_change_filter restarted(door_settings());
    CHECK(restarted.import_state("d1", "temperature", state));
    CHECK(restarted.export_state("d1", "temperature") == state);
    CHECK(restarted.flush("d1", "temperature") == std::vector<reading>{make(102, 1.5, 3)});
}

TEST_CASE("state: a version 1 state (one held reading and its slope range) is continued") {
    // Written by the filter before held windows: anchor (100,1), a reading (101,1.35) dropped
    // (slopes [-0.05,0.75] within 0.4 of it), (102,1.2) held.
    const std::string v1 =
        R"({"anchor_ts":100,"anchor_value":1,"held":{"boot":3,"seq":3,"ts":102,"unit":"C",)"
        R"("value":1.2},"received_ts":102,"slope_hi":0.75,"slope_lo":-0.05,"v":1})";
    significant_change_filter filter(door_settings());
    CHECK(filter.import_state("d1", "temperature", v1));
    // The line (100,1)-(103,0.7) would miss the dropped (101,1.35) by 0.45: the slope range
    // still counts, so (102,1.2) is needed.
    CHECK(filter.apply(make(103, 0.7, 4)).decision == fd::drop);
    CHECK(filter.flush("d1", "temperature") ==
          std::vector<reading>{make(102, 1.2, 3), make(103, 0.7, 4)});

    // Without the dropped reading the line fits (102,1.2), which is then dropped.
    significant_change_filter other(door_settings());
    CHECK(other.import_state("d1", "temperature",
                             R"({"anchor_ts":100,"anchor_value":1,"held":{"boot":3,"seq":3,)"
                             R"("ts":102,"unit":"C","value":1.2},"received_ts":102,"v":1})"));
    other.apply(make(103, 0.7, 4));
    CHECK(other.flush("d1", "temperature") == std::vector<reading>{make(103, 0.7, 4)});
}

TEST_CASE("state: doubles survive export and import exactly") {
    significant_change_filter filter(door_settings());
    filter.apply(make(1732630000.123456, 0.1 + 0.2, 1));
    filter.apply(make(1732630001.987654, 1.0 / 3.0, 2));
    filter.apply(make(1732630002.5, 2.0 / 3.0, 3));
    const auto state = filter.export_state("d1", "temperature");
    significant_change_filter other(door_settings());
    CHECK(other.import_state("d1", "temperature", state));
    CHECK(other.export_state("d1", "temperature") == state);
}

namespace {

// A state with anchor (100, 1) and a held reading.
std::string with_held(const std::string& received_ts, const std::string& held,
                      const std::string& slopes = "") {
    return R"({"v":1,"received_ts":)" + received_ts +
           R"(,"anchor_ts":100,"anchor_value":1,"held":)" + held + slopes + "}";
}

// A version 2 state with anchor (100, 1), forwarded at `forwarded`, and held readings.
std::string with_window(const std::string& received_ts, const std::string& held,
                        const std::string& forwarded = "100") {
    return R"({"v":2,"received_ts":)" + received_ts +
           R"(,"anchor_ts":100,"anchor_value":1,"forwarded_ts":)" + forwarded + R"(,"held":)" +
           held + "}";
}

std::string held_at(int ts, int seq) {
    return R"({"value":1.1,"unit":"C","ts":)" + std::to_string(ts) + R"(,"boot":3,"seq":)" +
           std::to_string(seq) + "}";
}

// A window of `n` held readings at 101, 102, ...
std::string window_of(int n) {
    std::string out = "[";
    for (int i = 1; i <= n; ++i) {
        out += (i > 1 ? "," : "") + held_at(100 + i, i + 1);
    }
    return out + "]";
}

}  // namespace

TEST_CASE("state: bad state is ignored and the series starts fresh") {
    const std::string held = R"({"value":1.1,"unit":"C","ts":101,"boot":3,"seq":2})";
    const std::vector<std::string> good = {
        with_held("101", held, R"(,"slope_lo":-1,"slope_hi":1)"),
        with_window("101", window_of(1)),
        with_window("132", window_of(32), "104"),
        with_window("102", "[" + held_at(100, 2) + "," + held_at(102, 3) + "]"),
        R"({"v":2,"received_ts":101,"anchor_ts":100,"anchor_value":1,"forwarded_ts":100})",
    };
    const std::vector<std::string> bad = {
        "",
        "not json",
        "[]",
        R"({"v":3,"received_ts":101,"anchor_ts":100,"anchor_value":1,"forwarded_ts":100})",
        R"({"v":"2","received_ts":101,"anchor_ts":100,"anchor_value":1,"forwarded_ts":100})",
        R"({"v":2,"received_ts":101,"anchor_ts":100,"anchor_value":1})",
        // Forwarded no earlier than the anchor and no later than the last reading.
        with_window("101", window_of(1), "99"),
        with_window("101", window_of(1), "102"),
        // Held: oldest first, the newest the last received, none before the anchor, at most 32.
        with_window("102", window_of(1)),
        with_window("102", "[" + held_at(102, 3) + "," + held_at(101, 2) + "]"),
        with_window("101", "[" + held_at(99, 2) + "," + held_at(101, 3) + "]"),
        with_window("133", window_of(33)),
        with_window("101", "[]"),
        with_window("101", held_at(101, 2)),
        with_window("101", "[" + held + R"(],"slope_lo":"x")"),
        R"({"received_ts":101,"anchor_ts":100,"anchor_value":1})",
        R"({"v":1,"received_ts":"101","anchor_ts":100,"anchor_value":1})",
        R"({"v":1,"received_ts":99,"anchor_ts":100,"anchor_value":1})",
        R"({"v":1,"received_ts":101,"anchor_ts":100})",
        // The held reading must be the newest received and after the anchor.
        with_held("102", held),
        with_held("100", R"({"value":1.1,"unit":"C","ts":100,"boot":3,"seq":2})"),
        with_held("101", R"({"value":1.1,"unit":"C","ts":101,"boot":-3,"seq":2})"),
        with_held("101", R"({"value":1.1,"ts":101,"boot":3,"seq":2})"),
        with_held("101", held, R"(,"slope_lo":"x")"),
    };
    significant_change_filter filter(door_settings());
    for (const auto& state : good) {
        CAPTURE(state);
        CHECK(filter.import_state("d1", "temperature", state));
        CHECK(filter.series_count() == 1);
    }
    for (const auto& state : bad) {
        CAPTURE(state);
        CHECK(filter.import_state("d1", "temperature", good.front()));
        CHECK_FALSE(filter.import_state("d1", "temperature", state));
        CHECK(filter.series_count() == 0);
        CHECK(filter.export_state("d1", "temperature").empty());
    }
    CHECK(filter.apply(make(200, 5, 9)).decision == fd::keep_first);
}

TEST_CASE("state: a deadband series continues from its imported last forwarded value") {
    significant_change_filter filter(deadband_settings());
    CHECK(filter.import_state("d1", "temperature",
                              R"({"v":1,"received_ts":105,"anchor_ts":100,"anchor_value":1})"));
    CHECK(filter.apply(make(106, 1.3, 7)).decision == fd::drop);
    CHECK(filter.apply(make(107, 1.4, 8)).decision == fd::keep_change);
    CHECK(filter.apply(make(150, 1.4, 9)).decision == fd::keep_gap);
}

TEST_CASE("state: take_dirty lists each touched series once, in order of first change") {
    significant_change_filter filter(door_settings());
    filter.apply(make(1, 1, 1, "d2"));
    filter.apply(make(1, 1, 1, "d1"));
    filter.apply(make(2, 1, 2, "d2"));
    using key = std::pair<std::string, std::string>;
    CHECK(filter.take_dirty() == std::vector<key>{{"d2", "temperature"}, {"d1", "temperature"}});
    CHECK(filter.take_dirty().empty());

    CHECK(filter.import_state("d3", "temperature", filter.export_state("d2", "temperature")));
    CHECK(filter.take_dirty().empty());  // imported state is already stored

    filter.apply(make(3, 1, 3, "d1"));
    CHECK(filter.take_dirty() == std::vector<key>{{"d1", "temperature"}});
}

TEST_CASE("state: flush_all emits every held reading once and marks those series dirty") {
    significant_change_filter filter(door_settings());
    filter.apply(make(1, 1, 1, "d1"));
    filter.apply(make(2, 1, 2, "d1"));  // held
    filter.apply(make(1, 1, 1, "d2"));  // only the anchor, nothing held
    filter.take_dirty();
    const auto flushed = filter.flush_all();
    REQUIRE(flushed.size() == 1);
    CHECK(flushed[0] == make(2, 1, 2, "d1"));
    CHECK(filter.take_dirty() ==
          std::vector<std::pair<std::string, std::string>>{{"d1", "temperature"}});
    CHECK(filter.flush_all().empty());
    CHECK(filter.counters().at("default").kept_change == 1);
}

}  // namespace fogbridge
