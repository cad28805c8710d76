// Time per message of decode_readings, with and without its fast path; skipped by default (a
// benchmark measures, it does not assert). Meaningful in a release build:
//   cmake --preset release && cmake --build --preset release -j2
//   build/release/tests/fogbridge_unit_tests -ts="decode bench" --no-skip
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "validate/fast_reading.hpp"

namespace {

constexpr double now = 1732630000.0;
constexpr int messages = 200'000;

std::string number(double v) {
    std::array<char, 32> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), r.ptr};
}

// As the device SDK writes a reading (protocol.cpp: append_reading).
std::string sdk_reading(std::mt19937& rng, std::uint64_t seq) {
    constexpr std::array<const char*, 4> sensors{"temperature", "humidity", "pressure", "co2"};
    const double value = std::round(std::uniform_real_distribution<double>(-40, 1200)(rng) * 100);
    const double ts = std::round((now - 3600 + static_cast<double>(seq) * 0.013) * 1000) / 1000;
    return fmt::format(R"({{"sensor":"{}","value":{},"unit":"C","ts":{},"boot":7,"seq":{}}})",
                       sensors[seq % sensors.size()], number(value / 100), number(ts), seq);
}

std::vector<std::string> payloads(std::size_t per_message) {
    std::mt19937 rng(7);
    std::vector<std::string> out;
    std::uint64_t seq = 1;
    for (int m = 0; m < 1000; ++m) {
        std::string p = per_message > 1 ? "[" : "";
        for (std::size_t k = 0; k < per_message; ++k) {
            if (k > 0) p += ',';
            p += sdk_reading(rng, seq++);
        }
        out.push_back(per_message > 1 ? p + "]" : p);
    }
    return out;
}

template <typename Decode>
double ns_per_message(const std::vector<std::string>& in, std::size_t per_message, Decode decode) {
    const fogbridge::decode_settings settings;
    std::size_t decoded = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < messages; ++i) {
        decoded += decode({.device = "d1", .payload = in[static_cast<std::size_t>(i) % in.size()]},
                          now, settings)
                       .readings.size();
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    REQUIRE(decoded == messages * per_message);  // every payload decodes, nothing optimised away
    return took.count() / messages;
}

void compare(std::size_t per_message) {
    const auto in = payloads(per_message);
    ns_per_message(in, per_message, fogbridge::decode_readings);  // warm up
    const double dom = ns_per_message(in, per_message, fogbridge::dom_decode_readings);
    const double fast = ns_per_message(in, per_message, fogbridge::decode_readings);
    MESSAGE(
        fmt::format("{} reading(s) per message, {} messages: DOM {:.0f} ns/message, "
                    "fast path {:.0f} ns/message ({:.1f}x)",
                    per_message, messages, dom, fast, dom / fast));
}

}  // namespace

TEST_CASE("decode bench: SDK payloads, one reading per message" * doctest::skip()) { compare(1); }

TEST_CASE("decode bench: SDK payloads, ten readings per message" * doctest::skip()) { compare(10); }
