#include "validate/utf8.hpp"

#include <cstdint>

namespace fogbridge {
namespace {

bool continuation(std::uint8_t b) { return (b & 0xC0U) == 0x80U; }

// Length of the valid sequence starting at s[i], or 0 if it is invalid. The ranges for the
// second byte are what exclude overlongs (E0, F0), surrogates (ED) and values above U+10FFFF (F4).
std::size_t sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
    const std::uint8_t lead = byte(0);
    std::size_t len = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xBF;
    if (lead < 0x80U) return 1;
    if (lead >= 0xC2U && lead <= 0xDFU) {
        len = 2;
    } else if (lead >= 0xE0U && lead <= 0xEFU) {
        len = 3;
        if (lead == 0xE0U) lo = 0xA0;
        if (lead == 0xEDU) hi = 0x9F;
    } else if (lead >= 0xF0U && lead <= 0xF4U) {
        len = 4;
        if (lead == 0xF0U) lo = 0x90;
        if (lead == 0xF4U) hi = 0x8F;
    } else {
        return 0;
    }
    if (s.size() - i < len) return 0;
    if (byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if (!continuation(byte(k))) return 0;
    }
    return len;
}

}  // namespace

std::optional<std::size_t> find_invalid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        if (static_cast<std::uint8_t>(s[i]) < 0x80U) {
            ++i;
            continue;
        }
        const std::size_t len = sequence_length(s, i);
        if (len == 0) return i;
        i += len;
    }
    return std::nullopt;
}

std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (const char c : s) {
        if (!continuation(static_cast<std::uint8_t>(c))) ++n;
    }
    return n;
}

}  // namespace fogbridge
