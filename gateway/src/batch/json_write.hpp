// Appending JSON scalars to a string, with exact sizes, for the hand-written encoders; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fogbridge {

// A quoted, escaped JSON string: " and \ escaped, control characters as \b \f \n \r \t or \u00XX;
// other bytes (UTF-8) are copied as they are.
void append_json_string(std::string& out, std::string_view s);
std::size_t json_string_size(std::string_view s);

// The shortest text that reads back as the same double (-0.0 keeps its sign); null when not
// finite, as JSON has no NaN.
void append_json_number(std::string& out, double v);
std::size_t json_number_size(double v);

void append_json_number(std::string& out, std::uint64_t v);
std::size_t json_number_size(std::uint64_t v);

// A signed integer (the deltas of the columnar layout).
void append_json_int(std::string& out, std::int64_t v);

}  // namespace fogbridge
