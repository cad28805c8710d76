// The Linux SDK's side of the portable core's JSON encoders: its readings and times in the
// core's form; pure, thread-safe.
#pragma once

#include <cstdint>

#include "fogbridge/buffer.hpp"
#include "fogbridge/core/delivery.hpp"

namespace fogbridge::detail {

// Seconds as whole milliseconds, rounded; 0 for what is not finite or beyond +-9e12 s.
std::int64_t millis_of(double seconds);
// The reading as the portable core encodes it; the strings point into `r`.
core::reading_view core_view(const buffered_reading& r);

}  // namespace fogbridge::detail
