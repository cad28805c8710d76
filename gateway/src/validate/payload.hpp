// Whole-message checks and JSON parsing of device payloads (size, UTF-8, depth); pure, thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "validate/reject.hpp"

namespace fogbridge {

struct decode_settings {
    std::size_t max_payload_bytes = 65536;  // checked before anything else
    std::size_t max_depth = 4;              // nesting of arrays/objects; checked before parsing
    std::size_t max_readings_per_message = 1000;
    double max_future_s = 300;       // ts may be at most this far ahead of the gateway clock
    double max_past_s = 30 * 86400;  // and at most this far behind
};

// What a JSON number too large for a double (such as 1e400) becomes after parse_payload: a string
// holding this marker, so the field that carried it can be refused as not_finite on its own.
inline constexpr std::string_view overflow_marker{"\0inf", 4};
inline constexpr std::string_view negative_overflow_marker{"\0-inf", 5};

// Checks size (too_large), UTF-8 (invalid_utf8), nesting (too_deep) and syntax (bad_json), in that
// order, and returns the parsed document. Never throws.
std::variant<nlohmann::json, rejection> parse_payload(std::string_view payload,
                                                      const decode_settings& settings);

}  // namespace fogbridge
