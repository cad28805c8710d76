#include "batch/json_write.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace fogbridge {
namespace {

// Longest shortest-round-trip double is 24 characters ("-2.2250738585072014e-308").
using number_buffer = std::array<char, 32>;

std::string_view format_double(number_buffer& buf, double v) {
    if (!std::isfinite(v)) return "null";
    // "-0" would read back as the integer 0 in most JSON readers; keep the sign.
    if (v == 0.0 && std::signbit(v)) return "-0.0";
    // Shortest round-trip form, fixed or exponent, whichever is shorter (like fmt's "{}").
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), static_cast<std::size_t>(r.ptr - buf.data())};
}

std::string_view format_uint(number_buffer& buf, std::uint64_t v) {
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), static_cast<std::size_t>(r.ptr - buf.data())};
}

bool needs_escape(char c) { return static_cast<unsigned char>(c) < 0x20U || c == '"' || c == '\\'; }

// The escape for c, or an empty view when c is one that takes the \u00XX form.
std::string_view short_escape(char c) {
    switch (c) {
        case '"':
            return R"(\")";
        case '\\':
            return R"(\\)";
        case '\b':
            return R"(\b)";
        case '\f':
            return R"(\f)";
        case '\n':
            return R"(\n)";
        case '\r':
            return R"(\r)";
        case '\t':
            return R"(\t)";
        default:
            return {};
    }
}

constexpr std::size_t long_escape_size = 6;  // \u00XX

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    constexpr std::string_view hex = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (!needs_escape(c)) continue;
        out.append(s.substr(run, i - run));
        run = i + 1;
        if (const auto e = short_escape(c); !e.empty()) {
            out.append(e);
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        out.append("\\u00");
        out.push_back(hex[u >> 4U]);
        out.push_back(hex[u & 0xFU]);
    }
    out.append(s.substr(run));
    out.push_back('"');
}

std::size_t json_string_size(std::string_view s) {
    std::size_t n = s.size() + 2;
    for (const char c : s) {
        if (!needs_escape(c)) continue;
        n += short_escape(c).empty() ? long_escape_size - 1 : 1;
    }
    return n;
}

void append_json_number(std::string& out, double v) {
    number_buffer buf;
    out.append(format_double(buf, v));
}

std::size_t json_number_size(double v) {
    number_buffer buf;
    return format_double(buf, v).size();
}

void append_json_number(std::string& out, std::uint64_t v) {
    number_buffer buf;
    out.append(format_uint(buf, v));
}

std::size_t json_number_size(std::uint64_t v) {
    number_buffer buf;
    return format_uint(buf, v).size();
}

void append_json_int(std::string& out, std::int64_t v) {
    if (v < 0) out.push_back('-');
    // Negating in unsigned arithmetic keeps INT64_MIN exact.
    const auto magnitude =
        v < 0 ? ~static_cast<std::uint64_t>(v) + 1 : static_cast<std::uint64_t>(v);
    append_json_number(out, magnitude);
}

}  // namespace fogbridge
