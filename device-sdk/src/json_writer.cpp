#include "json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace fogbridge::detail {

void append_json_string(std::string& out, std::string_view text) {
    static constexpr std::string_view hex = "0123456789abcdef";
    out += '"';
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (u < 0x20) {
                    out += "\\u00";
                    out += hex[u >> 4U];
                    out += hex[u & 0xFU];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

void append_json_number(std::string& out, double value) {
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    if (ec != std::errc{}) {
        out += '0';
        return;
    }
    out.append(buf.data(), end);
}

void append_json_uint(std::string& out, std::uint64_t value) {
    std::array<char, 24> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    out.append(buf.data(), ec == std::errc{} ? end : buf.data());
}

double round_to_millis(double seconds) {
    // k / 1000 is correctly rounded, so it is the double nearest to the decimal k/1000.
    return std::round(seconds * 1000.0) / 1000.0;
}

std::int64_t millis_of(double seconds) {
    if (!std::isfinite(seconds) || std::fabs(seconds) > 9.0e12) {
        return 0;
    }
    return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
}

core::reading_view core_view(const buffered_reading& r) {
    core::reading_view v;
    v.boot = r.boot;
    v.r.seq = r.seq;
    v.r.value = r.value;
    v.r.ts_ms = millis_of(r.ts);
    v.r.has_up = r.up && std::isfinite(*r.up) && *r.up >= 0;
    v.r.up_ms = v.r.has_up ? static_cast<std::uint64_t>(millis_of(*r.up)) : 0;
    v.sensor = r.sensor.c_str();
    v.unit = r.unit.c_str();
    return v;
}

}  // namespace fogbridge::detail
