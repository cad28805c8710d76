#include "validate/payload.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "validate/utf8.hpp"

namespace fogbridge {
namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// True when [first, last) is exactly a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool json_number(std::string_view t) {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t start = i;
        while (i < t.size() && digit(t[i])) ++i;
        return i > start;
    };
    if (i < t.size() && t[i] == '-') ++i;
    if (i < t.size() && t[i] == '0') {
        ++i;
    } else if (!digits()) {
        return false;
    }
    if (i < t.size() && t[i] == '.') {
        ++i;
        if (!digits()) return false;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
        if (!digits()) return false;
    }
    return i == t.size();
}

// Decimal exponent of the leading significant digit (1234.5 -> 3, 0.012 -> -2); nullopt for zero.
// Saturates so that absurd exponents cannot overflow.
std::optional<std::int64_t> scientific_exponent(std::string_view t) {
    constexpr std::int64_t cap = std::int64_t{1} << 40;
    std::size_t i = t.starts_with('-') ? 1 : 0;
    std::int64_t lead = 0;
    bool found = false;
    std::int64_t int_digits = 0;
    for (; i < t.size() && digit(t[i]); ++i) {
        if (found || t[i] != '0') {
            found = true;
            if (int_digits < cap) ++int_digits;
        }
    }
    if (found) lead = int_digits - 1;
    if (i < t.size() && t[i] == '.') {
        ++i;
        std::int64_t pos = 0;
        for (; i < t.size() && digit(t[i]); ++i) {
            if (pos < cap) ++pos;
            if (!found && t[i] != '0') {
                found = true;
                lead = -pos;
            }
        }
    }
    if (!found) return std::nullopt;
    std::int64_t exp = 0;
    bool negative = false;
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) negative = t[i++] == '-';
        for (; i < t.size(); ++i) {
            if (exp < cap) exp = exp * 10 + (t[i] - '0');
        }
    }
    return lead + (negative ? -exp : exp);
}

// True when the JSON number t does not fit a double (the parser would refuse the whole message).
bool overflows(std::string_view t) {
    const auto e = scientific_exponent(t);
    if (!e || *e < std::numeric_limits<double>::max_exponent10) return false;
    if (*e > std::numeric_limits<double>::max_exponent10) return true;
    double v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    return r.ec == std::errc::result_out_of_range;
}

struct overflow_token {
    std::size_t begin;
    std::size_t end;
};

struct scan_result {
    bool too_deep = false;
    std::vector<overflow_token> overflows;
};

// One pass over the raw text, skipping string contents: nesting depth and numbers out of range.
scan_result scan(std::string_view s, std::size_t max_depth) {
    scan_result out;
    std::size_t depth = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '"') {
            for (++i; i < s.size(); ++i) {
                if (s[i] == '\\') {
                    ++i;
                } else if (s[i] == '"') {
                    break;
                }
            }
            ++i;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                out.too_deep = true;
                return out;
            }
        } else if (c == ']' || c == '}') {
            if (depth > 0) --depth;
        } else if (c == '-' || digit(c)) {
            std::size_t j = i + 1;
            while (j < s.size() && (digit(s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                                    s[j] == '+' || s[j] == '-')) {
                ++j;
            }
            const auto token = s.substr(i, j - i);
            if (json_number(token) && overflows(token)) out.overflows.push_back({i, j});
            i = j;
            continue;
        }
        ++i;
    }
    return out;
}

// Copy of s with each overflowing number replaced by a JSON string holding the marker.
std::string patch(std::string_view s, const std::vector<overflow_token>& tokens) {
    std::string out;
    out.reserve(s.size() + tokens.size() * 12);
    std::size_t at = 0;
    for (const auto& t : tokens) {
        out.append(s.substr(at, t.begin - at));
        out.append(s[t.begin] == '-' ? R"("\u0000-inf")" : R"("\u0000inf")");
        at = t.end;
    }
    out.append(s.substr(at));
    return out;
}

rejection reject(reject_reason r, std::string detail) { return {r, std::move(detail), {}, {}, {}}; }

std::variant<nlohmann::json, rejection> parse_json(std::string_view text) {
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
        return reject(reject_reason::bad_json, fmt::format("invalid JSON at byte {}", e.byte));
    } catch (...) {
        return reject(reject_reason::bad_json, "invalid JSON");
    }
}

}  // namespace

std::variant<nlohmann::json, rejection> parse_payload(std::string_view payload,
                                                      const decode_settings& settings) {
    if (payload.size() > settings.max_payload_bytes) {
        return reject(reject_reason::too_large,
                      fmt::format("payload of {} bytes exceeds the limit of {}", payload.size(),
                                  settings.max_payload_bytes));
    }
    if (const auto at = find_invalid_utf8(payload)) {
        return reject(reject_reason::invalid_utf8, fmt::format("invalid UTF-8 at byte {}", *at));
    }
    const auto found = scan(payload, settings.max_depth);
    if (found.too_deep) {
        return reject(reject_reason::too_deep,
                      fmt::format("nested deeper than {} levels", settings.max_depth));
    }
    if (found.overflows.empty()) return parse_json(payload);
    return parse_json(patch(payload, found.overflows));
}

}  // namespace fogbridge
