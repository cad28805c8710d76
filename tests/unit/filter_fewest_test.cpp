// fewest_kept: the fewest readings any filter could keep, on hand-made series.
#include <doctest/doctest.h>

#include <vector>

#include "filter_eval/fewest.hpp"

namespace fogbridge {
namespace {

// One reading a second from ts 0.
std::vector<series_point> every_second(const std::vector<double>& values) {
    std::vector<series_point> out;
    for (std::size_t i = 0; i < values.size(); ++i) {
        out.push_back({static_cast<double>(i), values[i]});
    }
    return out;
}

}  // namespace

TEST_CASE("fewest_kept: step-hold may keep fewer than the deadband rule") {
    // The deadband rule (bound 0.5) keeps 0, 0.8 and 0.2. Keeping 0.4 instead of 0.8 covers
    // 0.8, 0.2 and 0.6, so two suffice.
    const auto s = every_second({0, 0.4, 0.8, 0.2, 0.6});
    CHECK(fewest_kept(s, reconstruct_mode::step_hold, 0.5, 0) == 2u);
    // A reading exactly the bound away may be stood for.
    CHECK(fewest_kept(every_second({0, 0.5, 1}), reconstruct_mode::step_hold, 0.5, 0) == 2u);
}

TEST_CASE("fewest_kept: linear keeps a ramp's ends, and the value after the last is held") {
    CHECK(fewest_kept(every_second({0, 1, 2, 3, 4}), reconstruct_mode::linear, 0.5, 0) == 2u);
    CHECK(fewest_kept(every_second({0, 1, 2, 3, 4}), reconstruct_mode::step_hold, 0.5, 0) == 5u);
    // Flat after 2: held from (2,2), the last kept point.
    CHECK(fewest_kept(every_second({0, 1, 2, 2.3, 1.8}), reconstruct_mode::linear, 0.5, 0) == 2u);
    // The line (0,0)-(2,0) misses (1,0.6) by more than 0.5, and so does either value held.
    CHECK(fewest_kept(every_second({0, 0.6, 0}), reconstruct_mode::linear, 0.5, 0) == 3u);
}

TEST_CASE("fewest_kept: the heartbeat forces a kept point at least that often") {
    const auto flat = every_second(std::vector<double>(11, 7.0));
    CHECK(fewest_kept(flat, reconstruct_mode::step_hold, 1, 0) == 1u);
    // Kept at 0, then no later than 4 and 8; 9 and 10 are less than 4 s after 8.
    CHECK(fewest_kept(flat, reconstruct_mode::step_hold, 1, 4) == 3u);
    CHECK(fewest_kept(flat, reconstruct_mode::linear, 1, 4) == 3u);
    // The reading after a pause longer than the heartbeat is kept.
    const std::vector<series_point> paused{{0, 1}, {10, 1}};
    CHECK(fewest_kept(paused, reconstruct_mode::step_hold, 1, 5) == 2u);
    CHECK(fewest_kept(paused, reconstruct_mode::step_hold, 1, 0) == 1u);
}

TEST_CASE("fewest_kept: no answer for an empty series or one whose time does not increase") {
    CHECK_FALSE(fewest_kept({}, reconstruct_mode::step_hold, 1, 0).has_value());
    const std::vector<series_point> same{{0, 1}, {0, 2}};
    CHECK_FALSE(fewest_kept(same, reconstruct_mode::linear, 1, 0).has_value());
    const std::vector<series_point> back{{5, 1}, {4, 2}};
    CHECK_FALSE(fewest_kept(back, reconstruct_mode::step_hold, 1, 0).has_value());
    CHECK(fewest_kept(every_second({3}), reconstruct_mode::linear, 1, 0) == 1u);
}

}  // namespace fogbridge
