// Random and mutated reading payloads through both paths of decode_readings (seeded, reproducible).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "decode_compare.hpp"

namespace {

using fogbridge::test::now;

constexpr std::uint64_t max_safe = (std::uint64_t{1} << 53) - 1;

constexpr std::array<std::string_view, 7> known{"boot",  "seq",  "device", "sensor",
                                                "value", "unit", "ts"};

// Tokens near the edges of what either path reads, valid JSON or not.
constexpr std::array<std::string_view, 44> odd_tokens{"0",
                                                      "-0",
                                                      "-0.0",
                                                      "7.0",
                                                      "7.5",
                                                      "1e3",
                                                      "1E+2",
                                                      "1e-400",
                                                      "1e400",
                                                      "-1e400",
                                                      "4.9e-324",
                                                      "2.2250738585072011e-308",
                                                      "1.7976931348623157e308",
                                                      "1.7976931348623159e308",
                                                      "9007199254740991",
                                                      "9007199254740992",
                                                      "18446744073709551615",
                                                      "18446744073709551616",
                                                      "-9223372036854775808",
                                                      "-9223372036854775809",
                                                      "123456789012345678",
                                                      "1234567890123456789",
                                                      "01",
                                                      "+1",
                                                      "0x10",
                                                      ".5",
                                                      "5.",
                                                      "1.5e",
                                                      "NaN",
                                                      "-Infinity",
                                                      "inf",
                                                      "null",
                                                      "true",
                                                      "false",
                                                      "\"C\"",
                                                      "\"°C\"",
                                                      "\"\"",
                                                      "\"a\\u0062\"",
                                                      "\"\x7f\"",
                                                      "[1]",
                                                      "{}",
                                                      "{\"a\":1}",
                                                      "\"NaN\"",
                                                      "\"d1\""};

constexpr std::string_view json_chars = "{}[]\":,.-+0123456789eE \\ntrufalsNI\x7f\xc3\xa9\xff";

class payload_maker final {
  public:
    explicit payload_maker(std::mt19937& rng) : rng_(rng) {}

    std::string payload() {
        if (chance(75)) return object();
        std::string out = "[" + space();
        const auto n = pick(5);
        for (std::uint32_t i = 0; i < n; ++i) out += (i ? "," : "") + space() + object() + space();
        return out + "]" + space();
    }

    // One to three byte edits: replace, insert, delete, or cut the end.
    std::string mutate(std::string p) {
        for (std::uint32_t k = 0, n = 1 + pick(3); k < n && !p.empty(); ++k) {
            const auto at = pick(static_cast<std::uint32_t>(p.size()));
            const char c = json_chars[pick(json_chars.size())];
            switch (pick(4)) {
                case 0:
                    p[at] = c;
                    break;
                case 1:
                    p.insert(at, 1, c);
                    break;
                case 2:
                    p.erase(at, 1);
                    break;
                default:
                    p.resize(at);
            }
        }
        return p;
    }

  private:
    std::uint32_t pick(std::size_t n) { return static_cast<std::uint32_t>(rng_() % n); }
    bool chance(std::uint32_t percent) { return pick(100) < percent; }

    std::string space() {
        std::string s;
        while (chance(15)) s += " \t\n\r"[pick(4)];
        return s;
    }

    std::string digits(std::uint32_t n, bool lead_zero_ok) {
        std::string s;
        for (std::uint32_t i = 0; i < n; ++i) {
            s += static_cast<char>('0' + ((i == 0 && !lead_zero_ok) ? 1 + pick(9) : pick(10)));
        }
        return s;
    }

    // Any number of the JSON grammar, most of them inside a double's range.
    std::string number() {
        std::string s = chance(30) ? "-" : "";
        const auto int_digits = 1 + pick(chance(80) ? 4 : 22);
        s += int_digits == 1 ? digits(1, true) : digits(int_digits, false);
        if (chance(50)) s += "." + digits(1 + pick(chance(80) ? 4 : 25), true);
        if (chance(25)) {
            s += chance(50) ? "e" : "E";
            if (chance(60)) s += chance(50) ? "-" : "+";
            s += std::to_string(pick(chance(90) ? 30 : 340));
        }
        return s;
    }

    std::string uint_value(std::uint64_t min) {
        switch (pick(5)) {
            case 0:
                return std::to_string(min);
            case 1:
                return std::to_string(max_safe - pick(2));
            case 2:
                return std::to_string((std::uint64_t{rng_()} << 21U) % (max_safe + 2));
            default:
                return std::to_string(min + pick(100000));
        }
    }

    std::string ts_value() {
        const double past = 30 * 86400;
        switch (pick(6)) {
            case 0:
                return fmt::format("{}", now - past);  // both edges are inside the window
            case 1:
                return fmt::format("{}", now + 300.0);
            case 2:
                return std::to_string(static_cast<std::uint64_t>(now) + pick(400));
            case 3:
                return fmt::format("{:.3f}", now - past * pick(1000) / 999.0);
            default:
                return fmt::format("{}", now - 1000 + pick(2000000) / 1000.0);
        }
    }

    std::string id() {
        constexpr std::string_view chars = "abcXYZ019_.:-";
        std::string s;
        const auto n = chance(95) ? 1 + pick(12) : 60 + pick(8);
        for (std::uint32_t i = 0; i < n; ++i) s += chars[pick(chars.size())];
        return "\"" + s + "\"";
    }

    std::string good_value(std::string_view key) {
        if (key == "boot") return uint_value(0);
        if (key == "seq") return uint_value(1);
        if (key == "device") return chance(90) ? "\"d1\"" : "null";
        if (key == "sensor") return id();
        if (key == "unit") {
            constexpr std::array<std::string_view, 6> units{
                "\"C\"", "\"°C\"", "\"µg/m³\"", "null", "\"0123456789abcdef\"", "\"%\""};
            return std::string(units[pick(units.size())]);
        }
        if (key == "ts") return ts_value();
        if (chance(70)) return number();
        return fmt::format("{}", std::uniform_real_distribution<double>(-1e6, 1e6)(rng_));
    }

    std::string any_value(std::string_view key) {
        if (chance(85)) return good_value(key);
        if (chance(30)) return number();
        return std::string(odd_tokens[pick(odd_tokens.size())]);
    }

    std::string member(std::string_view key, std::string value) {
        return space() + "\"" + std::string(key) + "\"" + space() + ":" + space() + value + space();
    }

    std::string object() {
        std::vector<std::string> members;
        for (const auto key : known) {
            const bool optional = key == "device" || key == "unit";
            if (chance(optional ? 50 : 97)) members.push_back(member(key, any_value(key)));
        }
        if (chance(5)) {
            const auto key = known[pick(known.size())];
            members.push_back(member(key, any_value(key)));
        }
        while (chance(20)) members.push_back(member(chance(50) ? "x" : "rssi", any_value("x")));
        std::shuffle(members.begin(), members.end(), rng_);
        std::string out = "{";
        for (std::size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
        return out + "}";
    }

    std::mt19937& rng_;
};

}  // namespace

TEST_CASE("fast path equals the DOM path on random and mutated reading payloads") {
    std::mt19937 rng(20241127);
    payload_maker make(rng);
    int accepted = 0;
    int payloads = 0;
    for (int i = 0; i < 4000; ++i) {
        const auto p = i % 4 == 3 ? make.mutate(make.payload()) : make.payload();
        accepted += fogbridge::test::differential(p) > 0 ? 1 : 0;
        ++payloads;
    }
    MESSAGE(fmt::format("fast path decoded {} of {} payloads", accepted, payloads));
    CHECK(accepted > payloads / 5);  // the check has teeth only if the fast path is taken
}
