#include "fogbridge/core/json.hpp"

#include <array>
#include <cstring>

namespace fogbridge::core {
namespace {

constexpr std::array<char, 16> hex_digits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

using digit_buf = std::array<char, 20>;  // any std::uint64_t

// Digits of v, most significant first, into buf; returns the count.
std::size_t digits_of(std::uint64_t v, digit_buf& buf) {
    digit_buf tmp{};
    std::size_t n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (std::size_t i = 0; i < n; ++i) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

std::uint64_t pow10(int n) {
    std::uint64_t p = 1;
    while (n-- > 0) {
        p *= 10;
    }
    return p;
}

// x rounded half up, for 0 <= x < 2^63. Not (x + 0.5) cast: that sum rounds up for the largest
// double below 0.5, and x - t is exact for the integer t <= x.
std::uint64_t round_half_up(double x) {
    const auto t = static_cast<std::uint64_t>(x);
    return x - static_cast<double>(t) >= 0.5 ? t + 1 : t;
}

}  // namespace

void json_out::raw(const char* text, std::size_t size) {
    if (overflow_ || size > capacity_ - size_) {
        overflow_ = true;
        return;
    }
    std::memcpy(data_ + size_, text, size);
    size_ += size;
}

void json_out::raw(const char* text) { raw(text, std::strlen(text)); }

void json_out::ch(char c) { raw(&c, 1); }

void json_out::string(const char* text) {
    ch('"');
    for (const char* p = text; *p != '\0'; ++p) {
        const auto u = static_cast<unsigned char>(*p);
        if (u == '"' || u == '\\') {
            ch('\\');
            ch(*p);
        } else if (u < 0x20) {
            const std::array<char, 6> esc = {
                '\\', 'u', '0', '0', hex_digits[u >> 4], hex_digits[u & 15]};
            raw(esc.data(), esc.size());
        } else {
            ch(*p);
        }
    }
    ch('"');
}

void json_out::uint(std::uint64_t value) {
    digit_buf buf{};
    raw(buf.data(), digits_of(value, buf));
}

void json_out::millis(std::int64_t ms) {
    if (ms < 0) {
        ch('-');
    }
    const std::uint64_t a = ms < 0 ? 0 - static_cast<std::uint64_t>(ms) : ms;
    uint(a / 1000);
    std::uint64_t frac = a % 1000;
    if (frac == 0) {
        return;
    }
    const std::array<char, 4> buf = {'.', static_cast<char>('0' + frac / 100),
                                     static_cast<char>('0' + frac / 10 % 10),
                                     static_cast<char>('0' + frac % 10)};
    std::size_t n = buf.size();
    while (buf[n - 1] == '0') {
        --n;
    }
    raw(buf.data(), n);
}

void json_out::number(double value) {
    if (value == 0.0) {
        ch('0');
        return;
    }
    if (value < 0) {
        ch('-');
        value = -value;
    }
    if (value >= 1e15 || value < 1e-6) {
        // Exponent form with 9 significant digits: m.mmmmmmmme[-]x.
        int exp = 0;
        while (value >= 10.0) {
            value /= 10.0;
            ++exp;
        }
        while (value < 1.0) {
            value *= 10.0;
            --exp;
        }
        std::uint64_t mant = round_half_up(value * 1e8);
        if (mant >= 1000000000ULL) {
            mant /= 10;
            ++exp;
        }
        digit_buf buf{};
        std::size_t n = digits_of(mant, buf);
        while (n > 1 && buf[n - 1] == '0') {
            --n;
        }
        ch(buf[0]);
        if (n > 1) {
            ch('.');
            raw(buf.data() + 1, n - 1);
        }
        ch('e');
        if (exp < 0) {
            ch('-');
            exp = -exp;
        }
        uint(static_cast<std::uint64_t>(exp));
        return;
    }
    auto ip = static_cast<std::uint64_t>(value);
    digit_buf buf{};
    const std::size_t int_digits = ip == 0 ? 0 : digits_of(ip, buf);
    // Decimals beyond 15 significant digits would only print the binary representation's noise.
    const int decimals =
        int_digits >= 15
            ? 0
            : (15 - static_cast<int>(int_digits) > 6 ? 6 : 15 - static_cast<int>(int_digits));
    const std::uint64_t scale = pow10(decimals);
    std::uint64_t frac =
        round_half_up((value - static_cast<double>(ip)) * static_cast<double>(scale));
    if (frac >= scale) {
        ++ip;
        frac -= scale;
    }
    uint(ip);
    if (frac == 0) {
        return;
    }
    std::array<char, 8> fbuf{};
    for (int i = decimals - 1; i >= 0; --i) {
        fbuf[i] = static_cast<char>('0' + frac % 10);
        frac /= 10;
    }
    int n = decimals;
    while (n > 0 && fbuf[n - 1] == '0') {
        --n;
    }
    ch('.');
    raw(fbuf.data(), static_cast<std::size_t>(n));
}

bool valid_name(const char* name) {
    std::size_t n = 0;
    for (; name[n] != '\0'; ++n) {
        const char c = name[n];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok || n >= 64) {
            return false;
        }
    }
    return n > 0;
}

bool valid_unit(const char* unit) {
    std::size_t n = 0;
    for (; unit[n] != '\0'; ++n) {
        const auto u = static_cast<unsigned char>(unit[n]);
        if (u < 0x20 || u == 0x7F || u == '"' || u == '\\' || n >= 16) {
            return false;
        }
    }
    return true;
}

}  // namespace fogbridge::core
