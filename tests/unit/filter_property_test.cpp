// Property tests of the significant-change filter: on random series the rebuilt series stays
// within the configured bound of every reading, and swinging door beats deadband on smooth data.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "filter/reconstruct.hpp"
#include "filter/significant_change_filter.hpp"

namespace fogbridge {
namespace {

// Portable uniform [0, 1) from the raw engine (the std distributions differ between libraries).
class random_source final {
  public:
    explicit random_source(std::uint64_t seed) : gen_(seed) {}
    double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
    double between(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  private:
    std::mt19937_64 gen_;
};

// A random walk with occasional jumps, measurement noise, irregular sampling and a few gaps.
std::vector<series_point> random_walk(std::uint64_t seed, int n, double offset) {
    random_source rnd(seed);
    std::vector<series_point> out;
    double ts = 1732630000.0 + rnd.between(0, 1);
    double level = offset;
    for (int i = 0; i < n; ++i) {
        ts += rnd.uniform() < 0.003 ? rnd.between(60, 600) : rnd.between(0.2, 3);
        level += rnd.between(-0.15, 0.15);
        if (rnd.uniform() < 0.01) {
            level += rnd.between(-6, 6);
        }
        out.push_back({ts, level + rnd.between(-0.1, 0.1)});
    }
    return out;
}

std::vector<series_point> smooth_wave(int n) {
    random_source rnd(99);
    std::vector<series_point> out;
    for (int i = 0; i < n; ++i) {
        const double ts = 1732630000.0 + i;
        const double value = 20 + 10 * std::sin(2 * std::numbers::pi * i / 600.0) + 0.002 * i +
                             rnd.between(-0.02, 0.02);
        out.push_back({ts, value});
    }
    return out;
}

// Runs one series through the filter (flushing the held readings at the end) and returns the
// kept points in forwarding order.
std::vector<series_point> kept_points(const filter_rule& rule,
                                      const std::vector<series_point>& series) {
    filter_settings settings;
    settings.default_rule = rule;
    significant_change_filter filter(settings);
    std::vector<series_point> kept;
    std::uint64_t seq = 0;
    for (const auto& p : series) {
        const auto result = filter.apply({.device = "d",
                                          .sensor = "s",
                                          .value = p.value,
                                          .unit = "",
                                          .ts = p.ts,
                                          .boot = 1,
                                          .seq = ++seq});
        for (const auto& held : result.emit) {
            kept.push_back({held.ts, held.value});
        }
        if (result.decision != filter_decision::drop) {
            kept.push_back(p);
        }
    }
    for (const auto& held : filter.flush("d", "s")) {
        kept.push_back({held.ts, held.value});
    }
    return kept;
}

filter_rule rule_of(filter_mode mode, double bound, double heartbeat) {
    filter_rule rule;
    rule.name = "default";
    rule.mode = mode;
    rule.heartbeat = heartbeat;
    (mode == filter_mode::deadband ? rule.deadband : rule.deviation) = bound;
    return rule;
}

// Rounding slack allowed on top of the bound.
double slack(double value) { return 1e-9 * std::max(1.0, std::fabs(value)); }

}  // namespace

TEST_CASE("property: deadband step-hold stays within the deadband of every reading") {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        for (const double deadband : {0.05, 0.3, 2.0}) {
            for (const double heartbeat : {0.0, 30.0}) {
                CAPTURE(seed);
                CAPTURE(deadband);
                CAPTURE(heartbeat);
                const auto series = random_walk(seed, 4000, 0);
                const auto kept =
                    kept_points(rule_of(filter_mode::deadband, deadband, heartbeat), series);
                CHECK(kept.size() < series.size());
                for (const auto& p : series) {
                    const auto rebuilt = reconstruct_at(kept, p.ts, reconstruct_mode::step_hold);
                    REQUIRE(rebuilt.has_value());
                    REQUIRE(std::fabs(*rebuilt - p.value) < deadband + slack(p.value));
                }
            }
        }
    }
}

TEST_CASE("property: deadband_pct step-hold stays within the percentage of the held value") {
    for (std::uint64_t seed = 11; seed <= 14; ++seed) {
        CAPTURE(seed);
        filter_rule rule;
        rule.name = "default";
        rule.deadband_pct = 1.5;
        rule.heartbeat = 30;
        const auto series = random_walk(seed, 4000, seed % 2 == 0 ? 40 : -40);
        const auto kept = kept_points(rule, series);
        CHECK(kept.size() < series.size() / 2);
        for (const auto& p : series) {
            const auto rebuilt = reconstruct_at(kept, p.ts, reconstruct_mode::step_hold);
            REQUIRE(rebuilt.has_value());
            REQUIRE(std::fabs(*rebuilt - p.value) < 0.015 * std::fabs(*rebuilt) + slack(p.value));
        }
    }
}

TEST_CASE("property: swinging door's lines stay within E of every reading") {
    for (std::uint64_t seed = 21; seed <= 24; ++seed) {
        for (const double deviation : {0.05, 0.3, 2.0}) {
            for (const double heartbeat : {0.0, 30.0}) {
                CAPTURE(seed);
                CAPTURE(deviation);
                CAPTURE(heartbeat);
                const auto series = random_walk(seed, 4000, 100);
                const auto kept =
                    kept_points(rule_of(filter_mode::swinging_door, deviation, heartbeat), series);
                CHECK(kept.size() < series.size());
                const auto error = measure_reconstruction({.kept = kept, .original = series},
                                                          reconstruct_mode::linear);
                CHECK(error.compared == series.size());
                CHECK(error.max_abs <= deviation + slack(200));
            }
        }
    }
}

TEST_CASE("property: swinging door keeps fewer points than deadband on smooth data") {
    const auto series = smooth_wave(6000);
    for (const double bound : {0.1, 0.5}) {
        CAPTURE(bound);
        const auto door = kept_points(rule_of(filter_mode::swinging_door, bound, 300), series);
        const auto band = kept_points(rule_of(filter_mode::deadband, bound, 300), series);
        const auto door_error =
            measure_reconstruction({.kept = door, .original = series}, reconstruct_mode::linear);
        const auto band_error =
            measure_reconstruction({.kept = band, .original = series}, reconstruct_mode::step_hold);
        INFO("bound ", bound, ": swinging door keeps ", door.size(), " (max ", door_error.max_abs,
             ", rms ", door_error.rms, "), deadband keeps ", band.size(), " (max ",
             band_error.max_abs, ", rms ", band_error.rms, ")");
        CHECK(door.size() * 5 < band.size());
        CHECK(door_error.max_abs <= bound + slack(40));
        CHECK(band_error.max_abs < bound + slack(40));
    }
}

}  // namespace fogbridge
