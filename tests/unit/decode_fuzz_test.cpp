#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "validate/decode.hpp"
#include "validate/topic.hpp"

namespace {

constexpr double now = 1732630000.0;

// Bytes from the engine's raw output, so the sequence is the same on every standard library.
std::string random_bytes(std::mt19937& rng, std::size_t n, std::string_view alphabet) {
    std::string s(n, '\0');
    for (auto& c : s) {
        const auto x = rng();
        c = alphabet.empty() ? static_cast<char>(x & 0xFFU) : alphabet[x % alphabet.size()];
    }
    return s;
}

void check_decoded(const fogbridge::decoded_readings& d) {
    for (const auto& r : d.readings) {
        CHECK(r.device == "d1");
        CHECK(fogbridge::valid_id(r.sensor));
        CHECK(std::isfinite(r.value));
        CHECK(r.seq >= 1);
    }
    for (const auto& r : d.rejects) CHECK(r.detail.size() < 200);
}

}  // namespace

TEST_CASE("decoding never throws on random bytes or mangled payloads") {
    std::mt19937 rng(20241126);
    const fogbridge::decode_settings s;
    const std::string json_chars = "{}[]\":,.-+0123456789eE \\untrlfasENI\x80\xc3\xa9";
    const std::string base =
        R"([{"sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,"boot":7,"seq":1042},)"
        R"({"sensor":"humidity","value":-1e3,"ts":1732630001,"boot":7,"seq":1043,"x":[{"y":null}]}])";
    for (int i = 0; i < 3000; ++i) {
        const auto n = static_cast<std::size_t>(rng() % 200);
        std::string payload;
        switch (i % 3) {
            case 0:
                payload = random_bytes(rng, n, "");
                break;
            case 1:
                payload = random_bytes(rng, n, json_chars);
                break;
            default: {
                payload = base;
                for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
                    payload[rng() % payload.size()] = json_chars[rng() % json_chars.size()];
                }
                payload.resize(rng() % (payload.size() + 1));
            }
        }
        fogbridge::decoded_readings d;
        CHECK_NOTHROW(d = fogbridge::decode_readings({.device = "d1", .payload = payload}, now, s));
        check_decoded(d);
        CHECK_NOTHROW((void)fogbridge::decode_alert({.device = "d1", .payload = payload}, now, s));
        CHECK_NOTHROW((void)fogbridge::decode_status(payload, s));
        CHECK_NOTHROW((void)fogbridge::decode_health({.device = "d1", .payload = payload}, now, s));
        CHECK_NOTHROW((void)fogbridge::parse_device_topic(payload));
    }
}
