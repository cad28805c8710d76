// Strict UTF-8 checks (no overlongs, no surrogates, nothing above U+10FFFF); pure, thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace fogbridge {

// Byte offset of the first invalid sequence, or nullopt when the whole input is valid UTF-8.
std::optional<std::size_t> find_invalid_utf8(std::string_view s);

inline bool valid_utf8(std::string_view s) { return !find_invalid_utf8(s); }

// Number of code points in valid UTF-8 (counts lead bytes).
std::size_t utf8_length(std::string_view s);

}  // namespace fogbridge
