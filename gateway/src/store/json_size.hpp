// Estimates how many bytes a reading takes inside an upstream batch's JSON. Thread-safe (pure).
#pragma once

#include <cstddef>

#include "common/reading.hpp"

namespace fogbridge {

// Size of {"device":…,"sensor":…,"value":…,"unit":…,"ts":…,"boot":…,"seq":…} plus the comma
// that separates it from the next one. An estimate for batch limits, not a promise.
std::size_t estimate_json_bytes(const reading& r);

}  // namespace fogbridge
