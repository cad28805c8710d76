// The fewest readings any filter could forward for a series and still rebuild it within a bound,
// found offline with the whole series in view: the yardstick for what a filter keeps. Pure;
// thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "filter/reconstruct.hpp"

namespace fogbridge {

// The smallest set of the series' own readings such that: the first reading is in it; the
// series rebuilt from it (step_hold or linear, the value held after the last) is within `bound`
// of every reading; and with heartbeat > 0, no reading at or after `heartbeat` from a kept one
// comes before the next kept one (so the reading after a longer pause is kept too). Returns its
// size; nullopt for an empty series or timestamps that do not strictly increase. A deadband
// filter with that bound and heartbeat (rebuilt by step-hold) or a swinging door (linear) can
// keep no fewer. Time O(n * L), L the longest run of readings one kept point can cover.
std::optional<std::size_t> fewest_kept(std::span<const series_point> series, reconstruct_mode mode,
                                       double bound, double heartbeat);

}  // namespace fogbridge
