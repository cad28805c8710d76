// Whole-message checks and JSON parsing of device payloads (size, UTF-8, depth); pure, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "validate/decode_settings.hpp"
#include "validate/reject.hpp"

namespace fogbridge {

// What a JSON number too large for a double (such as 1e400) becomes after parse_payload: a string
// holding this marker, so the field that carried it can be refused as not_finite on its own.
inline constexpr std::string_view overflow_marker{"\0inf", 4};
inline constexpr std::string_view negative_overflow_marker{"\0-inf", 5};

// Checks size (too_large), UTF-8 (invalid_utf8), nesting (too_deep) and syntax (bad_json), in that
// order, and returns the parsed document. Never throws.
std::variant<nlohmann::json, rejection> parse_payload(std::string_view payload,
                                                      const decode_settings& settings);

}  // namespace fogbridge
