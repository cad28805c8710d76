#include "validate/payload.hpp"

#include <fmt/format.h>

#include <algorithm>
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

// True when t is exactly one JSON number.
bool json_number(std::string_view t) { return !t.empty() && json_number_length(t) == t.size(); }

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

bool letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// NaN, Infinity, nan, inf (any case, optional sign): what encoders write for non-finite doubles.
bool non_finite_word(std::string_view w) {
    if (!w.empty() && (w.front() == '-' || w.front() == '+')) w.remove_prefix(1);
    const auto is = [&](std::string_view name) {
        return std::ranges::equal(w, name, [](char c, char n) { return (c | 0x20) == n; });
    };
    return is("nan") || is("inf") || is("infinity");
}

// A stretch of the raw text to replace before parsing, and with what (a JSON string).
struct patch_token {
    std::size_t begin;
    std::size_t end;
    std::string_view replacement;
};

constexpr std::string_view overflow_json = R"("\u0000inf")";
constexpr std::string_view negative_overflow_json = R"("\u0000-inf")";
constexpr std::string_view literal_json = R"("\u0000literal")";

struct scan_result {
    bool too_deep = false;
    std::vector<patch_token> patches;
};

// One pass over the raw text, skipping string contents: nesting depth, numbers out of range, and
// non-finite literals where a value is expected (never in a key's place, so `{NaN:1}` stays bad
// JSON). What is not JSON anyway is left for the parser to refuse.
class scanner final {
  public:
    scanner(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}

    scan_result run() {
        while (i_ < s_.size() && !out_.too_deep) step();
        return std::move(out_);
    }

  private:
    bool value_expected() const {
        return last_ == 0 || last_ == ':' || last_ == '[' ||
               (last_ == ',' && !in_object_.empty() && !in_object_.back());
    }

    void step() {
        const char c = s_[i_];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++i_;
        } else if (c == '"') {
            skip_string();
        } else if (c == '[' || c == '{') {
            if (in_object_.size() >= max_depth_) {
                out_.too_deep = true;
                return;
            }
            in_object_.push_back(c == '{');
            last_ = c;
            ++i_;
        } else if (c == ']' || c == '}') {
            if (!in_object_.empty()) in_object_.pop_back();
            last_ = 'v';
            ++i_;
        } else if (c == ':' || c == ',') {
            last_ = c;
            ++i_;
        } else if (letter(c) ||
                   ((c == '-' || c == '+') && i_ + 1 < s_.size() && letter(s_[i_ + 1]))) {
            word();
        } else if (c == '-' || digit(c)) {
            number();
        } else {
            last_ = 'v';
            ++i_;
        }
    }

    void skip_string() {
        for (++i_; i_ < s_.size(); ++i_) {
            if (s_[i_] == '\\') {
                ++i_;
            } else if (s_[i_] == '"') {
                break;
            }
        }
        ++i_;
        last_ = 'v';
    }

    void word() {
        std::size_t j = i_ + 1;
        while (j < s_.size() && letter(s_[j])) ++j;
        if (value_expected() && non_finite_word(s_.substr(i_, j - i_))) {
            out_.patches.push_back({i_, j, literal_json});
        }
        last_ = 'v';
        i_ = j;
    }

    void number() {
        std::size_t j = i_ + 1;
        while (j < s_.size() && (digit(s_[j]) || s_[j] == '.' || s_[j] == 'e' || s_[j] == 'E' ||
                                 s_[j] == '+' || s_[j] == '-')) {
            ++j;
        }
        const auto token = s_.substr(i_, j - i_);
        // Only where a value goes: patched in a key's place, `{-1e400:1}` would become valid.
        if (value_expected() && json_number(token) && overflows(token)) {
            out_.patches.push_back({i_, j, s_[i_] == '-' ? negative_overflow_json : overflow_json});
        }
        last_ = 'v';
        i_ = j;
    }

    std::string_view s_;
    std::size_t max_depth_;
    std::size_t i_ = 0;
    char last_ = 0;  // last of {[:, outside strings, 'v' after a value or key, 0 at the start
    std::vector<bool> in_object_;  // per open container: object or array
    scan_result out_;
};

// Copy of s with each patch applied.
std::string patch(std::string_view s, const std::vector<patch_token>& tokens) {
    std::string out;
    out.reserve(s.size() + tokens.size() * 16);
    std::size_t at = 0;
    for (const auto& t : tokens) {
        out.append(s.substr(at, t.begin - at));
        out.append(t.replacement);
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

std::size_t json_number_length(std::string_view s) {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t start = i;
        while (i < s.size() && digit(s[i])) ++i;
        return i > start;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') {
        ++i;
    } else if (!digits()) {
        return 0;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digits()) return 0;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digits()) return 0;
    }
    return i;
}

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
    const auto found = scanner(payload, settings.max_depth).run();
    if (found.too_deep) {
        return reject(reject_reason::too_deep,
                      fmt::format("nested deeper than {} levels", settings.max_depth));
    }
    if (found.patches.empty()) return parse_json(payload);
    return parse_json(patch(payload, found.patches));
}

bool is_marker(const nlohmann::json& v) {
    if (!v.is_string()) return false;
    const auto& s = v.get_ref<const std::string&>();
    return s == overflow_marker || s == negative_overflow_marker || s == literal_marker;
}

}  // namespace fogbridge
