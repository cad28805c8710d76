#include <doctest/doctest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "common/latency_recorder.hpp"
#include "ops/rates.hpp"

using fogbridge::latency_recorder;
using fogbridge::rate_meter;

TEST_CASE("rate_meter: per-second increase over the sliding window") {
    rate_meter m({60, 600});
    CHECK_FALSE(m.rate().has_value());
    m.add(0, 0);
    CHECK_FALSE(m.rate().has_value());
    m.add(10, 100);
    CHECK(m.rate() == 10.0);
    m.add(20, 300);
    CHECK(m.rate() == 15.0);
    for (int t = 30; t <= 60; t += 10) m.add(t, 300);
    CHECK(m.rate() == 5.0);  // 300 over 60 s
    m.add(70, 1300);         // the sample at 0 left the window: (1300 - 100) / (70 - 10)
    CHECK(m.rate() == 20.0);
}

TEST_CASE("rate_meter: samples sparser than the window still give a rate") {
    rate_meter m({60, 600});
    m.add(0, 0);
    m.add(100, 200);
    CHECK(m.rate() == 2.0);
    m.add(300, 600);  // keeps the previous sample: (600 - 200) / 200
    CHECK(m.rate() == 2.0);
}

TEST_CASE("rate_meter: a counter reset or a clock going back starts afresh") {
    rate_meter m({60, 600});
    m.add(0, 500);
    m.add(10, 600);
    m.add(20, 5);
    CHECK_FALSE(m.rate().has_value());
    m.add(30, 25);
    CHECK(m.rate() == 2.0);
    m.add(25, 30);
    CHECK_FALSE(m.rate().has_value());
    m.add(26, 30);
    CHECK(m.rate() == 0.0);
}

TEST_CASE("rate_meter: zero time span gives no rate; max_samples bounds the history") {
    rate_meter m({1000, 3});
    m.add(5, 1);
    m.add(5, 2);
    CHECK_FALSE(m.rate().has_value());
    m.add(6, 3);
    m.add(7, 4);
    m.add(8, 10);  // only (6,3) (7,4) (8,10) remain
    CHECK(m.rate() == 3.5);
}

TEST_CASE("nearest_rank quantiles") {
    std::vector<double> v;
    for (int i = 1; i <= 100; ++i) v.push_back(i);
    CHECK(fogbridge::nearest_rank(v, 0.5) == 50.0);
    CHECK(fogbridge::nearest_rank(v, 0.99) == 99.0);
    CHECK(fogbridge::nearest_rank(v, 1.0) == 100.0);
    CHECK(fogbridge::nearest_rank(v, 0.0) == 1.0);
    CHECK(fogbridge::nearest_rank({7.0}, 0.99) == 7.0);
    CHECK_FALSE(fogbridge::nearest_rank({}, 0.5).has_value());
}

TEST_CASE("latency_recorder: quantiles and max over the last N, count and sum over all") {
    latency_recorder r(4);
    CHECK(r.summary() == fogbridge::latency_summary{});
    for (double s : {0.5, 0.25, 1.0, 0.125}) r.record(s);
    auto s = r.summary();
    CHECK(s.count == 4U);
    CHECK(s.sum == 1.875);
    CHECK(s.p50 == 0.25);  // sorted 0.125 0.25 0.5 1: rank ceil(2) = 2
    CHECK(s.p99 == 1.0);
    CHECK(s.max == 1.0);

    r.record(2.0);  // pushes out 0.5: window 0.25 1 0.125 2
    s = r.summary();
    CHECK(s.count == 5U);
    CHECK(s.sum == 3.875);
    CHECK(s.p50 == 0.25);
    CHECK(s.p99 == 2.0);
    CHECK(s.max == 2.0);

    r.record(-1.0);
    r.record(std::nan(""));
    r.record(INFINITY);
    CHECK(r.summary().count == 5U);
}

TEST_CASE("latency_recorder: record() from several threads") {
    latency_recorder r(256);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&r] {
            for (int i = 0; i < 5000; ++i) r.record(0.5);
        });
    }
    for (auto& t : threads) t.join();
    const auto s = r.summary();
    CHECK(s.count == 20000U);
    CHECK(s.sum == 10000.0);
    CHECK(s.p99 == 0.5);
}

TEST_CASE("estimate_drain_seconds") {
    using fogbridge::estimate_drain_seconds;
    CHECK(estimate_drain_seconds(0, std::nullopt, std::nullopt) == 0.0);
    CHECK(estimate_drain_seconds(1000, 50.0, 150.0) == 10.0);
    CHECK_FALSE(estimate_drain_seconds(1000, 150.0, 150.0).has_value());  // not shrinking
    CHECK_FALSE(estimate_drain_seconds(1000, 200.0, 150.0).has_value());  // growing
    CHECK_FALSE(estimate_drain_seconds(1000, std::nullopt, 150.0).has_value());
    CHECK_FALSE(estimate_drain_seconds(1000, 0.0, std::nullopt).has_value());
}
