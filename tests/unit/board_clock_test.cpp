// Boards without a real-time clock: their "up" (seconds since boot) mapped onto the gateway clock.
#include "validate/board_clock.hpp"

#include <doctest/doctest.h>

#include <cmath>

using fogbridge::board_clock;
using fogbridge::board_clock_settings;

namespace {
constexpr double now0 = 1796470000;  // a gateway time in 2026
}

TEST_CASE("board clock: a ts before 2020 or far off the gateway clock is untrusted") {
    board_clock_settings s;
    s.max_skew_s = 300;
    const board_clock c(s);
    CHECK(c.untrusted(12.5, now0));                  // booted in 1970
    CHECK(c.untrusted(1577836799, 1577836800 + 1));  // just before 2020
    CHECK(c.untrusted(now0 - 86400, now0));          // a day behind
    CHECK(c.untrusted(now0 + 301, now0));
    CHECK_FALSE(c.untrusted(now0 - 300, now0));
    CHECK_FALSE(c.untrusted(now0 + 2.5, now0));
}

TEST_CASE("board clock: the smallest receive-minus-up over the messages removes transport delay") {
    board_clock c(board_clock_settings{});
    // The board booted at now0 - 100 (gateway clock). Messages arrive 0.8, 0.05 and 2 s late.
    c.observe({.device = "d1", .boot = 7}, 10.0, now0 - 90 + 0.8);
    CHECK(*c.map({.device = "d1", .boot = 7}, 10.0) == doctest::Approx(now0 - 90 + 0.8));
    c.observe({.device = "d1", .boot = 7}, 20.0, now0 - 80 + 0.05);
    c.observe({.device = "d1", .boot = 7}, 30.0, now0 - 70 + 2.0);
    CHECK(*c.map({.device = "d1", .boot = 7}, 20.0) == doctest::Approx(now0 - 80 + 0.05));
    CHECK(*c.map({.device = "d1", .boot = 7}, 35.0) == doctest::Approx(now0 - 65 + 0.05));
    // Mapped times keep the board's own spacing, so they stay ordered like the seqs.
    CHECK(*c.map({.device = "d1", .boot = 7}, 20.001) > *c.map({.device = "d1", .boot = 7}, 20.0));
}

TEST_CASE("board clock: a placed ts is a whole number of milliseconds") {
    board_clock c(board_clock_settings{});
    c.observe({.device = "d1", .boot = 7}, 10.0, now0 + 0.1234567);
    for (const double up : {10.0, 10.001, 11.5, 123.456}) {
        const double ts = *c.map({.device = "d1", .boot = 7}, up);
        CHECK(std::round(ts * 1000.0) / 1000.0 == ts);
        CHECK(ts == doctest::Approx(now0 + 0.1234567 - 10.0 + up).epsilon(1e-12));
    }
}

TEST_CASE("board clock: each (device, boot) has its own offset") {
    board_clock c(board_clock_settings{});
    c.observe({.device = "d1", .boot = 7}, 10.0, now0);
    c.observe({.device = "d1", .boot = 8}, 1.0, now0 + 5);  // the board rebooted
    c.observe({.device = "d2", .boot = 7}, 500.0, now0);
    CHECK(*c.map({.device = "d1", .boot = 7}, 10.0) == doctest::Approx(now0));
    CHECK(*c.map({.device = "d1", .boot = 8}, 1.0) == doctest::Approx(now0 + 5));
    CHECK(*c.map({.device = "d2", .boot = 7}, 500.0) == doctest::Approx(now0));
    CHECK_FALSE(c.map({.device = "d3", .boot = 7}, 1.0));
    CHECK_FALSE(c.map({.device = "d1", .boot = 9}, 1.0));
}

TEST_CASE("board clock: a bad up is ignored; the least recently seen boot is forgotten first") {
    board_clock_settings s;
    s.max_boots = 2;
    board_clock c(s);
    c.observe({.device = "d1", .boot = 1}, -1.0, now0);
    CHECK(c.size() == 0);
    c.observe({.device = "d1", .boot = 1}, 1.0, now0);
    c.observe({.device = "d2", .boot = 1}, 1.0, now0);
    c.observe({.device = "d1", .boot = 1}, 2.0, now0 + 1);  // d1 seen again: d2 is now the oldest
    c.observe({.device = "d3", .boot = 1}, 1.0, now0);
    CHECK(c.size() == 2);
    CHECK(c.map({.device = "d1", .boot = 1}, 0));
    CHECK_FALSE(c.map({.device = "d2", .boot = 1}, 0));
    CHECK(c.map({.device = "d3", .boot = 1}, 0));
}

#include <string>

#include "batch/batch.hpp"
#include "validate/fast_reading.hpp"

namespace {

fogbridge::decode_settings decode_defaults() {
    fogbridge::decode_settings s;
    s.max_clock_skew_s = 300;
    return s;
}

// Both decode paths, which must agree.
fogbridge::decoded_readings decode_both(const std::string& payload, double now) {
    const auto s = decode_defaults();
    auto dom = fogbridge::dom_decode_readings({.device = "d1", .payload = payload}, now, s);
    auto fast = fogbridge::fast_decode_readings({.device = "d1", .payload = payload}, now, s);
    if (fast) {
        CHECK(fast->readings == dom.readings);
        CHECK(fast->rejects.size() == dom.rejects.size());
    }
    return fogbridge::decode_readings({.device = "d1", .payload = payload}, now, s);
}

}  // namespace

TEST_CASE("board clock: a reading with up is not rejected for its ts alone; without up it is") {
    const auto booted_1970 =
        decode_both(R"({"sensor":"t","value":1,"ts":12.5,"up":12.5,"boot":3,"seq":1})", now0);
    REQUIRE(booted_1970.readings.size() == 1);
    CHECK(booted_1970.readings[0].up == 12.5);
    CHECK(booted_1970.readings[0].ts == 12.5);  // mapped later, by board_clock::apply
    const auto day_off =
        decode_both(R"([{"sensor":"t","value":1,"ts":1796383600,"up":7,"boot":3,"seq":1}])", now0);
    CHECK(day_off.readings.size() == 1);
    const auto no_up = decode_both(R"({"sensor":"t","value":1,"ts":12.5,"boot":3,"seq":1})", now0);
    CHECK(no_up.readings.empty());
    REQUIRE(no_up.rejects.size() == 1);
    CHECK(no_up.rejects[0].reason == fogbridge::reject_reason::ts_out_of_window);
    // A trusted ts with up stays the board's own; a negative or non-number up is rejected.
    const auto good =
        decode_both(R"({"sensor":"t","value":1,"ts":1796470001,"up":7,"boot":3,"seq":1})", now0);
    REQUIRE(good.readings.size() == 1);
    CHECK(good.readings[0].up == 7.0);
    CHECK(decode_both(R"({"sensor":"t","value":1,"ts":12.5,"up":-1,"boot":3,"seq":1})", now0)
              .rejects[0]
              .reason == fogbridge::reject_reason::wrong_type);
    CHECK(decode_both(R"({"sensor":"t","value":1,"ts":12.5,"up":"x","boot":3,"seq":1})", now0)
              .rejects[0]
              .reason == fogbridge::reject_reason::wrong_type);
    // null up counts as absent.
    CHECK(
        decode_both(R"({"sensor":"t","value":1,"ts":1796470001,"up":null,"boot":3,"seq":1})", now0)
            .readings[0]
            .up == std::nullopt);
}

TEST_CASE("board clock: apply maps untrusted readings, keeps trusted ones, stays ordered") {
    board_clock_settings s;
    s.max_skew_s = 300;
    board_clock c(s);
    // A board booted at now0 - 100 with its clock at 1970; its message arrives 0.2 s late.
    auto batch1 = decode_both(
                      R"([{"sensor":"t","value":1,"ts":99.0,"up":99.0,"boot":3,"seq":1},
            {"sensor":"t","value":2,"ts":100.0,"up":100.0,"boot":3,"seq":2}])",
                      now0 + 0.2)
                      .readings;
    c.apply(batch1, now0 + 0.2);
    CHECK(batch1[0].ts == doctest::Approx(now0 + 0.2 - 1));
    CHECK(batch1[1].ts == doctest::Approx(now0 + 0.2));
    CHECK(batch1[0].ts_from_gateway);
    // Its clock then steps to the right time: trusted again, kept as sent, still after seq 2.
    auto batch2 =
        decode_both(R"({"sensor":"t","value":3,"ts":1796470001.0,"up":101.0,"boot":3,"seq":3})",
                    now0 + 1.1)
            .readings;
    c.apply(batch2, now0 + 1.1);
    CHECK(batch2[0].ts == 1796470001.0);
    CHECK_FALSE(batch2[0].ts_from_gateway);
    CHECK(batch2[0].ts > batch1[1].ts);
}

TEST_CASE("board clock: a batch marks readings whose ts the gateway set") {
    fogbridge::reading r{"d1", "t", 1.5, "", 1796470000.25, 3, 9, std::nullopt, false};
    r.ts_from_gateway = true;
    const std::vector<fogbridge::reading> readings{r};
    const std::vector<fogbridge::seq_range> ranges;
    const auto body = fogbridge::encode_batch({"gw", "b-1", now0, false, readings, ranges});
    CHECK(body.find(R"("seq":9,"ts_src":"gw"})") != std::string::npos);
    const auto object =
        std::string(R"({"device":"d1","sensor":"t","value":1.5,"ts":1796470000.25,)") +
        R"("boot":3,"seq":9,"ts_src":"gw"})";
    CHECK(fogbridge::encoded_size(r) == object.size() + 1);
}
