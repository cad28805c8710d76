// Quotas per device: series and boots a board can make the gateway remember, and the rate of its
// alerts and health reports upstream.
#include "pipeline/device_quota.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/processor.hpp"

using fogbridge::decode_settings;
using fogbridge::device_quota;
using fogbridge::filter_settings;
using fogbridge::inbound_message;
using fogbridge::processor;
using fogbridge::quota_verdict;

namespace {

constexpr double t0 = 1732630000.0;

std::string reading(const std::string& sensor, std::uint64_t boot, std::uint64_t seq) {
    return R"({"sensor":")" + sensor + R"(","value":1.5,"ts":)" + std::to_string(t0) +
           R"(,"boot":)" + std::to_string(boot) + R"(,"seq":)" + std::to_string(seq) + "}";
}

fogbridge::group_result send(processor& p, const std::string& topic, const std::string& payload,
                             double now = t0) {
    std::vector<inbound_message> group{{topic, payload}};
    return p.process(group, now);
}

// A reading of `sensor` from `device`: what device_quota::admit_series looks at.
fogbridge::reading of(const std::string& device, const std::string& sensor) {
    fogbridge::reading r;
    r.device = device;
    r.sensor = sensor;
    return r;
}

std::vector<std::string> reject_reasons(const fogbridge::group_result& out) {
    std::vector<std::string> reasons;
    for (const auto& m : out.local) {
        reasons.push_back(nlohmann::json::parse(m.payload)["reason"].get<std::string>());
    }
    return reasons;
}

}  // namespace

TEST_CASE("device quota: series beyond the cap are refused, known ones and other devices pass") {
    device_quota q({.max_series = 2, .max_boots = 4, .boot_idle_s = 60});
    CHECK(q.admit_series(of("d1", "a")) == quota_verdict::admit);
    CHECK(q.admit_series(of("d1", "b")) == quota_verdict::admit);
    CHECK(q.admit_series(of("d1", "c")) == quota_verdict::series_limit);
    CHECK(q.admit_series(of("d1", "a")) == quota_verdict::admit);
    CHECK(q.admit_series(of("d2", "c")) == quota_verdict::admit);
    CHECK(q.series("d1") == 2);
    // Restored series count against the cap.
    device_quota r({.max_series = 2, .max_boots = 4, .boot_idle_s = 60});
    r.restore_series("d1", "x");
    r.restore_series("d1", "y");
    CHECK(r.admit_series(of("d1", "z")) == quota_verdict::series_limit);
    CHECK(r.admit_series(of("d1", "y")) == quota_verdict::admit);
}

TEST_CASE("device quota: a new boot takes a full device's place only from a quiet boot") {
    device_quota q({.max_series = 0, .max_boots = 2, .boot_idle_s = 60});
    CHECK(q.admit_boot("d1", 1, 100) == quota_verdict::admit);
    CHECK(q.admit_boot("d1", 2, 110) == quota_verdict::admit);
    // Both boots were seen within boot_idle_s: a made-up third is refused.
    CHECK(q.admit_boot("d1", 3, 120) == quota_verdict::boot_limit);
    CHECK(q.admit_boot("d1", 2, 150) == quota_verdict::admit);  // a known boot always passes
    // Boot 1 has been quiet for 60 s: a reboot takes its place.
    CHECK(q.admit_boot("d1", 3, 160) == quota_verdict::admit);
    CHECK(q.boots("d1") == 2);
    CHECK(q.admit_boot("d1", 1, 161) == quota_verdict::boot_limit);
    // A flood of new boots gets at most max_boots per boot_idle_s.
    int admitted = 0;
    for (std::uint64_t b = 100; b < 1100; ++b) {
        if (q.admit_boot("d1", b, 200 + static_cast<double>(b - 100) * 0.1) ==
            quota_verdict::admit) {
            ++admitted;
        }
    }
    CHECK(admitted <= 2 * (100 / 60 + 2));
    CHECK(q.boots("d1") == 2);
    // Unlimited series do not limit boots and the reverse.
    CHECK(q.admit_series(of("d1", "s")) == quota_verdict::admit);
}

TEST_CASE("device quota: boots restored beyond the cap count as quiet and shrink back to it") {
    device_quota q({.max_series = 0, .max_boots = 2, .boot_idle_s = 60});
    for (std::uint64_t b = 1; b <= 5; ++b) q.restore_boot("d1", b);
    CHECK(q.boots("d1") == 5);
    CHECK(q.admit_boot("d1", 9, 100) == quota_verdict::admit);
    CHECK(q.boots("d1") == 2);
    CHECK(q.admit_boot("d1", 10, 100) == quota_verdict::admit);  // the other restored one gives way
    CHECK(q.admit_boot("d1", 11, 100) == quota_verdict::boot_limit);
}

TEST_CASE("processor: readings of a new series beyond the cap are rejected and still processed") {
    decode_settings d;
    d.max_series_per_device = 2;
    processor p("gw-01", d, filter_settings{});
    CHECK(send(p, "devices/d1/readings", reading("a", 1, 1)).commit.readings.size() == 1);
    CHECK(send(p, "devices/d1/readings", reading("b", 1, 2)).commit.readings.size() == 1);
    const auto out = send(p, "devices/d1/readings", reading("c", 1, 3));
    CHECK(out.commit.readings.empty());
    CHECK(reject_reasons(out) == std::vector<std::string>{"series_limit"});
    // Processed like any reject: the device is acknowledged past it.
    REQUIRE(out.acks.size() == 1);
    CHECK(std::get<2>(out.acks[0]) == 3U);
    CHECK(p.counters().rejected.at("series_limit") == 1);
    // Known series keep flowing; another device has its own quota.
    CHECK(send(p, "devices/d1/readings", reading("a", 1, 4)).commit.readings.size() == 1);
    CHECK(send(p, "devices/d2/readings", reading("c", 1, 1)).commit.readings.size() == 1);
}

TEST_CASE("processor: readings of made-up boots beyond the cap are rejected, not tracked") {
    decode_settings d;
    d.max_boots_per_device = 2;
    d.boot_idle_s = 60;
    processor p("gw-01", d, filter_settings{});
    CHECK(send(p, "devices/d1/readings", reading("a", 1, 1)).commit.progress.size() == 1);
    CHECK(send(p, "devices/d1/readings", reading("a", 2, 1)).commit.progress.size() == 1);
    for (std::uint64_t boot = 3; boot < 50; ++boot) {
        const auto out = send(p, "devices/d1/readings", reading("a", boot, 1), t0 + 1);
        CHECK(out.commit.readings.empty());
        CHECK(out.commit.progress.empty());  // no new row in the store
        CHECK(out.acks.empty());
    }
    CHECK(p.counters().rejected.at("boot_limit") == 47);
    // A malformed reading of a new boot makes no state either.
    const auto bad = send(p, "devices/d1/readings",
                          R"({"sensor":"a","value":"x","ts":1,"boot":77,"seq":1})", t0 + 1);
    CHECK(bad.commit.progress.empty());
    // Once the old boots have been quiet for boot_idle_s, a reboot goes through.
    CHECK(send(p, "devices/d1/readings", reading("a", 50, 1), t0 + 61).commit.readings.size() == 1);
}

TEST_CASE("processor: alerts beyond the rate are counted and the next one says how many") {
    decode_settings d;
    d.alerts_per_s = 1;
    d.alerts_burst = 3;
    processor p("gw-01", d, filter_settings{});
    const std::string alert =
        R"({"sensor":"t","value":99,"threshold":50,"rule":"hot","boot":1,"ts":)" +
        std::to_string(t0) + "}";
    std::size_t sent = 0;
    for (int i = 0; i < 10; ++i) sent += send(p, "devices/d1/alerts", alert).upstream.size();
    CHECK(sent == 3);
    CHECK(p.counters().alerts == 10);
    CHECK(p.counters().alerts_suppressed == 7);
    // Another board is not held back by this one.
    CHECK(send(p, "devices/d2/alerts", alert).upstream.size() == 1);
    const auto next = send(p, "devices/d1/alerts", alert, t0 + 1.5);
    REQUIRE(next.upstream.size() == 1);
    const auto j = nlohmann::json::parse(next.upstream[0].payload);
    CHECK(j["suppressed"] == 7);
    CHECK(j["value"] == 99);
}

TEST_CASE("processor: device health reports beyond the rate are counted, the next says so") {
    decode_settings d;
    d.health_per_s = 0.5;
    d.health_burst = 2;
    processor p("gw-01", d, filter_settings{});
    std::size_t sent = 0;
    for (int i = 0; i < 6; ++i) {
        sent += send(p, "devices/d1/health", R"({"battery":)" + std::to_string(i) + "}")
                    .upstream.size();
    }
    CHECK(sent == 2);
    CHECK(p.counters().health == 6);
    CHECK(p.counters().health_suppressed == 4);
    const auto next = send(p, "devices/d1/health", R"({"battery":9})", t0 + 2);
    REQUIRE(next.upstream.size() == 1);
    const auto j = nlohmann::json::parse(next.upstream[0].payload);
    CHECK(j["suppressed"] == 4);
    CHECK(j["battery"] == 9);
    // 0 = no limit.
    d.health_per_s = 0;
    processor free("gw-01", d, filter_settings{});
    for (int i = 0; i < 50; ++i) CHECK(send(free, "devices/d1/health", "{}").upstream.size() == 1);
}
