// The fast path of decode_readings against the DOM path: whenever the fast path decodes a payload,
// its result is the DOM path's, bit for bit; and decode_readings always equals the DOM path.
#include "validate/fast_reading.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "decode_compare.hpp"

using fogbridge::decode_settings;
using fogbridge::test::differential;
using fogbridge::test::now;
using fogbridge::test::same_double;
using fogbridge::test::same_reading;

namespace {

bool fast_takes(std::string_view payload) {
    return fogbridge::fast_decode_readings({.device = "d1", .payload = payload}, now,
                                           decode_settings{})
        .has_value();
}

const std::string sdk = R"({"sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,)"
                        R"("boot":7,"seq":1042})";

std::string with_value(std::string_view value) {
    return fmt::format(R"({{"sensor":"t","value":{},"ts":1732630000,"boot":1,"seq":2}})", value);
}

}  // namespace

TEST_CASE("fast path: what the SDK sends is decoded without the DOM, identically") {
    const std::vector<std::string> taken{
        sdk,
        "[" + sdk + "," + sdk + "]",
        "[]",
        " \t\r\n" + sdk + " \n",
        R"({"sensor":"t","value":-0,"ts":1732630000,"boot":0,"seq":1})",
        R"({"sensor":"t","value":-0.0,"ts":1732630000,"boot":0,"seq":1,"unit":null})",
        R"({"sensor":"t","value":1E+2,"ts":1732630000.5e0,"boot":0,"seq":1,"device":"d1"})",
        R"({"device":null,"seq":9007199254740991,"boot":9007199254740991,"ts":1732630000,)"
        R"("value":-123456789012345678,"sensor":"a.b:c-d_e"})",
        R"({"sensor":"pm25","value":4.9e-324,"unit":"µg/m³","ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"y":1e400})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":"é","x":true})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"é":"é","":false})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"unit":"0123456789abcdef"})",
    };
    for (const auto& p : taken) {
        INFO(p);
        CHECK(fast_takes(p));
        CHECK(differential(p) > 0);
    }
    const auto d = fogbridge::decode_readings({.device = "d1", .payload = sdk}, now, {});
    REQUIRE(d.readings.size() == 1);
    CHECK(same_reading(d.readings[0], {"d1", "temperature", 21.37, "C", 1732630000.123, 7, 1042}));
}

TEST_CASE("fast path: -0 as an integer is +0.0, as the DOM reads it; -0.0 keeps its sign") {
    const auto zero =
        fogbridge::decode_readings({.device = "d1", .payload = with_value("-0")}, now, {});
    REQUIRE(zero.readings.size() == 1);
    CHECK(same_double(zero.readings[0].value, 0.0));
    const auto negative =
        fogbridge::decode_readings({.device = "d1", .payload = with_value("-0.0")}, now, {});
    REQUIRE(negative.readings.size() == 1);
    CHECK(same_double(negative.readings[0].value, -0.0));
}

TEST_CASE("fast path: leaves to the DOM what it cannot decode with certainty") {
    const std::vector<std::string> left{
        "",
        "\xef\xbb\xbf" + sdk,           // byte order mark
        sdk + ",",                      // trailing garbage
        sdk.substr(0, sdk.size() - 1),  // truncated
        R"({"sensor":"te\u006dp","value":1,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","sensor":"u","value":1,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":{"a":1}})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":[1]})",
        R"({"sensor":"t","value":NaN,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":NaN})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,})",
        R"({"sensor":"t","value":1,"ts":1732630000123,"boot":1,"seq":1})",  // ms: out of window
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":7.0,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":-0,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":0})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":9007199254740992})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"device":"d2"})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"unit":"0123456789abcdefg"})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"unit":"\x7f"})",
        R"({"sensor":"t t","value":1,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":"1","ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":true,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":null,"ts":1732630000,"boot":1,"seq":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1})",
        R"({"sensor":"t","value":1,"ts":1732630000,"boot":1,"seq":1,"x":"é\xff"})",
        "[" + sdk + ",1]",
        "[" + sdk + ",]",
        "[[" + sdk + "]]",
        "7",
        "\"x\"",
        with_value("1e400"),
        with_value("-1e400"),
        with_value("1.7976931348623159e308"),
        with_value("1e-400"),
        with_value("01"),
        with_value("+1"),
        with_value("0x10"),
        with_value(".5"),
        with_value("5."),
        with_value("1e"),
        with_value("--1"),
        with_value("1234567890123456789"),  // past int64 digits the DOM reads it as a double
        with_value("1." + std::string(40, '1')),
    };
    for (const auto& p : left) {
        INFO(p);
        CHECK_FALSE(fast_takes(p));
        differential(p);
    }
    std::string big = sdk;
    big.insert(1, std::string(70000, ' '));
    CHECK_FALSE(fast_takes(big));
    differential(big);
}
