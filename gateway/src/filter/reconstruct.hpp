// Rebuilding a series from its kept points, and the error of that against the original
// readings: for the filter evaluation tool and tests. Pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "filter/filter_settings.hpp"

namespace fogbridge {

struct series_point {
    double ts = 0;
    double value = 0;
};

enum class reconstruct_mode {
    step_hold,  // the value of the last kept point at or before the query time (deadband)
    linear,     // interpolated between the kept points around it (swinging door)
};

reconstruct_mode reconstruct_mode_for(filter_mode mode);

// `kept` sorted by ts (ties: the later one in the span wins from its ts on). Before the first
// kept point: nullopt. After the last: its value (no extrapolation).
std::optional<double> reconstruct_at(std::span<const series_point> kept, double ts,
                                     reconstruct_mode mode);

struct reconstruction_error {
    double max_abs = 0;
    double rms = 0;
    std::size_t compared = 0;   // original readings at or after the first kept point
    std::size_t uncovered = 0;  // original readings before it (or all, when nothing was kept)
};

// The two series compared; named, so the kept points and the originals cannot trade places.
struct reconstruction_input {
    std::span<const series_point> kept;      // what a filter kept
    std::span<const series_point> original;  // every reading it was given
};

// Compares the rebuilt series with every original reading. `kept` need not be sorted (a clock
// that went back leaves it unsorted); it is stably sorted by ts first.
reconstruction_error measure_reconstruction(const reconstruction_input& in, reconstruct_mode mode);

}  // namespace fogbridge
