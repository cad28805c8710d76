// Differential check of decode_readings' fast path against its DOM path, for the unit tests.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "validate/fast_reading.hpp"

namespace fogbridge::test {

inline constexpr double now = 1732630000.0;

// Bit for bit, so that -0.0 and +0.0 differ.
inline bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

inline bool same_reading(const reading& a, const reading& b) {
    return a.device == b.device && a.sensor == b.sensor && same_double(a.value, b.value) &&
           a.unit == b.unit && same_double(a.ts, b.ts) && a.boot == b.boot && a.seq == b.seq;
}

inline bool same_rejection(const rejection& a, const rejection& b) {
    return a.reason == b.reason && a.detail == b.detail && a.index == b.index && a.boot == b.boot &&
           a.seq == b.seq;
}

template <typename T, typename Same>
bool same_all(const std::vector<T>& a, const std::vector<T>& b, Same same) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) return false;
    }
    return true;
}

inline bool same(const decoded_readings& a, const decoded_readings& b) {
    return same_all(a.readings, b.readings, same_reading) &&
           same_all(a.rejects, b.rejects, same_rejection);
}

// The shipped defaults; tight limits (size, count, a zero-width ts window); a depth that allows
// no array; loose limits.
inline std::array<decode_settings, 4> all_settings() {
    decode_settings tight;
    tight.max_payload_bytes = 120;
    tight.max_depth = 2;
    tight.max_readings_per_message = 2;
    tight.max_future_s = 0;
    tight.max_past_s = 0;
    decode_settings flat;
    flat.max_depth = 1;
    decode_settings loose;
    loose.max_depth = 64;
    loose.max_readings_per_message = 100000;
    loose.max_future_s = 1e300;
    loose.max_past_s = 1e300;
    return {decode_settings{}, tight, flat, loose};
}

// Compares both paths on one payload under every set of limits; returns how many times the fast
// path decoded it.
inline int differential(std::string_view payload) {
    static const auto settings = all_settings();
    int accepted = 0;
    INFO("payload: ", std::string(payload));
    for (const auto& s : settings) {
        const auto dom = dom_decode_readings({.device = "d1", .payload = payload}, now, s);
        if (const auto fast = fast_decode_readings({.device = "d1", .payload = payload}, now, s)) {
            ++accepted;
            CHECK(same(*fast, dom));
        }
        CHECK(same(decode_readings({.device = "d1", .payload = payload}, now, s), dom));
    }
    return accepted;
}

}  // namespace fogbridge::test
