// Minimal JSON output for the SDK's fixed payloads: exact, allocation-light; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "fogbridge/buffer.hpp"
#include "fogbridge/core/delivery.hpp"

namespace fogbridge::detail {

void append_json_string(std::string& out, std::string_view text);
// Shortest text that reads back as the same double; the caller guarantees it is finite.
void append_json_number(std::string& out, double value);
void append_json_uint(std::string& out, std::uint64_t value);
// Rounds to the millisecond, so the shortest form has at most 3 decimals.
double round_to_millis(double seconds);
// Seconds as whole milliseconds, rounded; 0 for what is not finite or beyond +-9e12 s.
std::int64_t millis_of(double seconds);
// The reading as the portable core encodes it; the strings point into `r`.
core::reading_view core_view(const buffered_reading& r);

}  // namespace fogbridge::detail
