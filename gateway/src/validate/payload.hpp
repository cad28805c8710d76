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
// What a NaN or Infinity literal becomes (not JSON, but what some encoders write for a double that
// is not finite: NaN, Infinity, -Infinity, nan, inf, in any case), so it is refused as not_finite
// for the field that holds it rather than as bad_json for the whole message.
inline constexpr std::string_view literal_marker{"\0literal", 8};

// Length of the JSON number at the start of s, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?;
// 0 when s does not start with one (also "1." or "1e": a number cut short is no number).
std::size_t json_number_length(std::string_view s);

// True for a string holding one of the markers above.
bool is_marker(const nlohmann::json& v);

// Checks size (too_large), UTF-8 (invalid_utf8), nesting (too_deep) and syntax (bad_json), in that
// order, and returns the parsed document, with overflowing numbers and non-finite literals in value
// positions replaced by markers (found by the same pass that measures nesting; one parse). Never
// throws.
std::variant<nlohmann::json, rejection> parse_payload(std::string_view payload,
                                                      const decode_settings& settings);

// parse_payload for a payload that must be one JSON object, handed to `decode` (which returns
// std::variant<T, rejection>); `not_object` is the rejection's detail otherwise.
template <typename T, typename Decode>
std::variant<T, rejection> decode_json_object(std::string_view payload,
                                              const decode_settings& settings,
                                              const char* not_object, Decode decode) {
    try {
        auto parsed = parse_payload(payload, settings);
        if (auto* rej = std::get_if<rejection>(&parsed)) return std::move(*rej);
        const auto& doc = std::get<nlohmann::json>(parsed);
        if (!doc.is_object()) return rejection{reject_reason::not_object, not_object, {}, {}, {}};
        return decode(doc);
    } catch (...) {  // only allocation failure can get here
        return rejection{reject_reason::bad_json, "could not decode", {}, {}, {}};
    }
}

}  // namespace fogbridge
