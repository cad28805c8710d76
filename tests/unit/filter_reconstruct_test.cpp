// Rebuilding a series from kept points (step-hold, linear) and the error summary.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "filter/reconstruct.hpp"

namespace fogbridge {

TEST_CASE("reconstruct: step-hold and linear between kept points") {
    const std::vector<series_point> kept{{0, 0}, {10, 10}, {20, 0}};
    CHECK_FALSE(reconstruct_at(kept, -1, reconstruct_mode::step_hold).has_value());
    CHECK_FALSE(reconstruct_at(kept, -1, reconstruct_mode::linear).has_value());
    CHECK(reconstruct_at(kept, 0, reconstruct_mode::step_hold) == 0.0);
    CHECK(reconstruct_at(kept, 5, reconstruct_mode::step_hold) == 0.0);
    CHECK(reconstruct_at(kept, 10, reconstruct_mode::step_hold) == 10.0);
    CHECK(reconstruct_at(kept, 15, reconstruct_mode::step_hold) == 10.0);
    CHECK(reconstruct_at(kept, 25, reconstruct_mode::step_hold) == 0.0);
    CHECK(reconstruct_at(kept, 5, reconstruct_mode::linear) == 5.0);
    CHECK(reconstruct_at(kept, 10, reconstruct_mode::linear) == 10.0);
    CHECK(reconstruct_at(kept, 17.5, reconstruct_mode::linear) == 2.5);
    CHECK(reconstruct_at(kept, 25, reconstruct_mode::linear) == 0.0);  // no extrapolation
    CHECK_FALSE(reconstruct_at({}, 0, reconstruct_mode::linear).has_value());
}

TEST_CASE("reconstruct: at equal timestamps the later kept point wins from then on") {
    const std::vector<series_point> kept{{0, 0}, {10, 1}, {10, 5}, {20, 5}};
    CHECK(reconstruct_at(kept, 5, reconstruct_mode::linear) == 0.5);
    CHECK(reconstruct_at(kept, 10, reconstruct_mode::linear) == 5.0);
    CHECK(reconstruct_at(kept, 15, reconstruct_mode::linear) == 5.0);
    CHECK(reconstruct_at(kept, 10, reconstruct_mode::step_hold) == 5.0);
}

TEST_CASE("reconstruct: error summary over every original reading") {
    const std::vector<series_point> kept{{20, 0}, {10, 10}, {0, 0}};  // unsorted is fine
    const std::vector<series_point> original{{-1, 3}, {0, 0}, {5, 1}, {10, 10}, {15, 5}, {20, 0}};
    const auto linear =
        measure_reconstruction({.kept = kept, .original = original}, reconstruct_mode::linear);
    CHECK(linear.compared == 5);
    CHECK(linear.uncovered == 1);
    CHECK(linear.max_abs == 4.0);
    CHECK(linear.rms == doctest::Approx(std::sqrt(16.0 / 5.0)).epsilon(1e-15));

    const auto step =
        measure_reconstruction({.kept = kept, .original = original}, reconstruct_mode::step_hold);
    CHECK(step.compared == 5);
    CHECK(step.max_abs == 5.0);  // (5,1) -> 0 and (15,5) -> 10
    CHECK(step.rms == doctest::Approx(std::sqrt((1.0 + 25.0) / 5.0)).epsilon(1e-15));

    const auto none =
        measure_reconstruction({.kept = {}, .original = original}, reconstruct_mode::linear);
    CHECK(none.compared == 0);
    CHECK(none.uncovered == original.size());
    CHECK(none.max_abs == 0.0);
    CHECK(none.rms == 0.0);
}

TEST_CASE("reconstruct: the mode that fits each filter mode") {
    CHECK(reconstruct_mode_for(filter_mode::deadband) == reconstruct_mode::step_hold);
    CHECK(reconstruct_mode_for(filter_mode::swinging_door) == reconstruct_mode::linear);
}

}  // namespace fogbridge
