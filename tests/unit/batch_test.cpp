#include "batch/batch.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "batch/compress.hpp"
#include "batch/json_write.hpp"
#include "batch/policy.hpp"

using fogbridge::batch_settings;
using fogbridge::batch_view;
using fogbridge::reading;
using fogbridge::seq_range;
using nlohmann::json;

namespace {

std::string json_string(std::string_view s) {
    std::string out;
    fogbridge::append_json_string(out, s);
    return out;
}

std::string json_number(double v) {
    std::string out;
    fogbridge::append_json_number(out, v);
    return out;
}

std::size_t envelope_size(const std::vector<seq_range>& ranges) {
    const std::vector<reading> none;
    return fogbridge::encode_batch({"gw-01", "b-1", 1732630000.5, false, none, ranges}).size();
}

}  // namespace

TEST_CASE("a small batch encodes to exactly the expected text") {
    const std::vector<reading> readings{
        {"d1", "temperature", 21.37, "C", 1732630000.123, 7, 1042},
        {"d1", "humidity", 40.0, "", 1732630000.5, 7, 1043},
    };
    const std::vector<seq_range> ranges{{"d1", 7, 1000, 1043}, {"d2", 0, 1, 1}};
    const auto text =
        fogbridge::encode_batch({"gw-01", "b-1", 1732630000.5, false, readings, ranges});
    CHECK(
        text ==
        R"({"gateway":"gw-01","batch_id":"b-1","created":1732630000.5,"replay":false,"readings":[)"
        R"({"device":"d1","sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,"boot":7,"seq":1042},)"
        R"({"device":"d1","sensor":"humidity","value":40,"ts":1732630000.5,"boot":7,"seq":1043}],)"
        R"("ranges":[{"device":"d1","boot":7,"first":1000,"last":1043},{"device":"d2","boot":0,"first":1,"last":1}]})");
}

TEST_CASE("an empty replayed batch") {
    const std::vector<reading> readings;
    const std::vector<seq_range> ranges;
    CHECK(
        fogbridge::encode_batch({"gw", "id", 1.5, true, readings, ranges}) ==
        R"({"gateway":"gw","batch_id":"id","created":1.5,"replay":true,"readings":[],"ranges":[]})");
}

TEST_CASE("strings are JSON-escaped, including every control character") {
    CHECK(json_string("plain") == R"("plain")");
    CHECK(json_string("") == R"("")");
    CHECK(json_string("a\"b\\c/d") == R"("a\"b\\c/d")");
    CHECK(json_string("\b\f\n\r\t") == R"("\b\f\n\r\t")");
    CHECK(json_string(std::string_view("\0\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
    CHECK(json_string("\xc2\xb5g/m\xc2\xb3") == "\"\xc2\xb5g/m\xc2\xb3\"");
    for (int c = 0; c < 256; ++c) {
        const std::string s(1, static_cast<char>(c));
        CHECK(fogbridge::json_string_size(s) == json_string(s).size());
        if (c < 0x80) CHECK(json::parse(json_string(s)).get<std::string>() == s);
    }
}

TEST_CASE("numbers are the shortest text that reads back the same") {
    CHECK(json_number(21.37) == "21.37");
    CHECK(json_number(0.1 + 0.2) == "0.30000000000000004");
    CHECK(json_number(40.0) == "40");
    CHECK(json_number(1e-7) == "1e-07");
    CHECK(json_number(-0.0) == "-0.0");
    CHECK(json_number(std::numeric_limits<double>::quiet_NaN()) == "null");
    CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
    std::string u;
    fogbridge::append_json_number(u, std::uint64_t{9007199254740991});
    CHECK(u == "9007199254740991");
    CHECK(fogbridge::json_number_size(std::uint64_t{0}) == 1u);
    CHECK(fogbridge::json_number_size(std::numeric_limits<std::uint64_t>::max()) == 20u);
}

TEST_CASE("a batch reads back through nlohmann with the same values, and sizes are exact") {
    std::mt19937_64 rng(42);
    const std::vector<double> specials{0.0,       -0.0,   21.37,
                                       0.1 + 0.2, 1e-7,   1e300,
                                       -1e300,    5e-324, std::numeric_limits<double>::max(),
                                       -273.15,   1e16,   123456789.125};
    std::vector<reading> readings;
    for (std::size_t i = 0; i < 200; ++i) {
        reading r;
        r.device = "dev-" + std::to_string(i % 7);
        r.sensor = i % 2 ? "temperature" : "co2";
        r.value = i < specials.size() ? specials[i]
                                      : std::bit_cast<double>(rng() & 0x7FEFFFFFFFFFFFFFULL);
        r.unit = i % 3 ? "" : "\xc2\xb5g/m\xc2\xb3\"\\\n";
        r.ts = 1732630000.0 + static_cast<double>(i) / 1000.0;
        r.boot = i % 2 ? 0 : (std::uint64_t{1} << 53) - 1;
        r.seq = i + 1;
        readings.push_back(r);
    }
    const std::vector<seq_range> ranges{{"dev-1", 7, 1, 200}};
    const auto text =
        fogbridge::encode_batch({"gw \"01\"", "4f1c\t9", 1732630000.25, true, readings, ranges});
    const auto j = json::parse(text);
    CHECK(j.at("gateway") == "gw \"01\"");
    CHECK(j.at("batch_id") == "4f1c\t9");
    CHECK(j.at("created").get<double>() == 1732630000.25);
    CHECK(j.at("replay") == true);
    REQUIRE(j.at("readings").size() == readings.size());
    std::size_t sum = 0;
    for (std::size_t i = 0; i < readings.size(); ++i) {
        const auto& r = readings[i];
        const auto& o = j["readings"][i];
        CAPTURE(i);
        CHECK(o.at("device") == r.device);
        CHECK(o.at("sensor") == r.sensor);
        CHECK(o.at("value").get<double>() == r.value);
        CHECK(std::signbit(o.at("value").get<double>()) == std::signbit(r.value));
        CHECK(o.contains("unit") == !r.unit.empty());
        if (!r.unit.empty()) CHECK(o.at("unit") == r.unit);
        CHECK(o.at("ts").get<double>() == r.ts);
        CHECK(o.at("boot").get<std::uint64_t>() == r.boot);
        CHECK(o.at("seq").get<std::uint64_t>() == r.seq);
        sum += fogbridge::encoded_size(r);
    }
    CHECK(j.at("ranges") == json::parse(R"([{"device":"dev-1","boot":7,"first":1,"last":200}])"));

    // Each reading adds exactly its encoded_size; the last one has no comma.
    const std::vector<seq_range> no_ranges;
    const auto plain =
        fogbridge::encode_batch({"gw-01", "b-1", 1732630000.5, false, readings, no_ranges});
    CHECK(plain.size() == envelope_size(no_ranges) + sum - 1);
}

TEST_CASE("encoded_size of one reading") {
    const reading r{"d1", "temperature", 21.37, "C", 1732630000.123, 7, 1042};
    const std::string object =
        R"({"device":"d1","sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,"boot":7,"seq":1042})";
    CHECK(fogbridge::encoded_size(r) == object.size() + 1);
    reading no_unit = r;
    no_unit.unit.clear();
    CHECK(fogbridge::encoded_size(no_unit) ==
          object.size() + 1 - std::string(R"(,"unit":"C")").size());
}

TEST_CASE("ack and alert payloads") {
    CHECK(fogbridge::encode_ack(7, 1042) == R"({"boot":7,"seq":1042})");
    CHECK(fogbridge::encode_ack(0, 9007199254740991) == R"({"boot":0,"seq":9007199254740991})");
    fogbridge::alert a{"d1", "temperature", 31.2, 30.0, "C", "temp-high", 1732630000.5, 7, 12};
    CHECK(fogbridge::encode_alert("gw-01", a) ==
          R"({"gateway":"gw-01","device":"d1","sensor":"temperature","value":31.2,"threshold":30,)"
          R"("unit":"C","rule":"temp-high","ts":1732630000.5,"boot":7,"seq":12})");
    a = {"d1", "temperature", 31.2, {}, "", "", 1732630000.5, 7, {}};
    CHECK(
        fogbridge::encode_alert("gw-01", a) ==
        R"({"gateway":"gw-01","device":"d1","sensor":"temperature","value":31.2,"ts":1732630000.5,"boot":7})");
}

TEST_CASE("batch_due fires on each trigger, inclusive, and never for an empty batch") {
    const batch_settings s{.max_readings = 1000, .max_bytes = 256 * 1024, .max_delay = 1.0};
    CHECK_FALSE(
        fogbridge::batch_due({.readings = 0, .bytes = 0, .oldest = std::nullopt}, 100.0, s));
    CHECK_FALSE(fogbridge::batch_due({.readings = 0, .bytes = 999999, .oldest = 0.0}, 100.0, s));
    CHECK_FALSE(fogbridge::batch_due({.readings = 999, .bytes = 1000, .oldest = 99.5}, 100.0, s));
    CHECK(fogbridge::batch_due({.readings = 1000, .bytes = 1000, .oldest = 99.5}, 100.0, s));
    CHECK_FALSE(
        fogbridge::batch_due({.readings = 10, .bytes = 256 * 1024 - 1, .oldest = 99.5}, 100.0, s));
    CHECK(fogbridge::batch_due({.readings = 10, .bytes = 256 * 1024, .oldest = 99.5}, 100.0, s));
    CHECK_FALSE(fogbridge::batch_due({.readings = 10, .bytes = 1000, .oldest = 99.25}, 100.0, s));
    CHECK(fogbridge::batch_due({.readings = 10, .bytes = 1000, .oldest = 99.0}, 100.0, s));
    CHECK(fogbridge::batch_due({.readings = 1, .bytes = 100, .oldest = 90.0}, 100.0, s));
    CHECK_FALSE(
        fogbridge::batch_due({.readings = 1, .bytes = 100, .oldest = std::nullopt}, 100.0, s));
    CHECK(fogbridge::batch_deadline(99.25, s) == 100.25);
    CHECK_FALSE(fogbridge::batch_deadline(std::nullopt, s));
}

TEST_CASE("live batches leave a quarter of the window (at least one slot) to a waiting backlog") {
    CHECK(fogbridge::live_window(8, false) == 8);
    CHECK(fogbridge::live_window(8, true) == 6);
    CHECK(fogbridge::live_window(16, true) == 12);
    CHECK(fogbridge::live_window(3, true) == 2);
    CHECK(fogbridge::live_window(2, true) == 1);
    CHECK(fogbridge::live_window(1, true) == 1);  // one slot: live first, the backlog in between
}

namespace {

// Batch settings with the default max_readings (1000) and this replay rate.
batch_settings paced(double rate) {
    batch_settings s;
    s.replay_rate = rate;
    return s;
}

}  // namespace

TEST_CASE("replay_pacer: about one second's worth per batch, at the rate, without bursts") {
    SUBCASE("unpaced") {
        fogbridge::replay_pacer p(paced(0));
        p.restart(0);
        for (int i = 0; i < 5; ++i) {
            CHECK(p.allowance(0.0) == 1000);
            p.spend(1000);
        }
    }
    SUBCASE("slower than a batch a second: batches of `rate` readings, one a second") {
        fogbridge::replay_pacer p(paced(50));
        p.restart(100.0);
        CHECK(p.allowance(100.0) == 50);  // one batch at once after a connect
        p.spend(50);
        CHECK(p.allowance(100.5) == 0);
        CHECK(p.allowance(100.99) == 0);
        CHECK(p.allowance(101.0) == 50);
        p.spend(50);
        // A full window for a long while does not store up a burst.
        CHECK(p.allowance(200.0) == 50);
        p.spend(50);
        CHECK(p.allowance(200.01) == 0);
    }
    SUBCASE("faster: full batches, rate / max_readings a second") {
        fogbridge::replay_pacer p(paced(5000));
        p.restart(0.0);
        std::size_t sent = 0;
        for (double t = 0; t < 10.0; t += 0.005) {
            while (const std::size_t n = p.allowance(t)) {
                CHECK(n == 1000);
                p.spend(n);
                sent += n;
            }
        }
        CHECK(sent >= 49000);
        CHECK(sent <= 51000);
    }
    SUBCASE("a short batch (the end of the backlog) spends only what it took") {
        fogbridge::replay_pacer p(paced(10));
        p.restart(0.0);
        CHECK(p.allowance(0.0) == 10);
        p.spend(4);
        CHECK(p.allowance(0.6) == 10);
    }
    SUBCASE("below one reading a second: one reading at a time") {
        fogbridge::replay_pacer p(paced(0.5));
        p.restart(0.0);
        CHECK(p.allowance(0.0) == 1);
        p.spend(1);
        CHECK(p.allowance(1.0) == 0);
        CHECK(p.allowance(2.0) == 1);
    }
}

TEST_CASE("zstd round trip, and refusal of what is not a whole zstd stream") {
    std::string text;
    for (int i = 0; i < 2000; ++i) {
        text +=
            R"({"device":"d1","sensor":"temperature","value":21.)" + std::to_string(i % 97) + "},";
    }
    const auto packed = fogbridge::zstd_compress(text, 3);
    CHECK(packed.size() < text.size() / 10);
    CHECK(fogbridge::zstd_decompress(packed) == text);

    fogbridge::zstd_compressor reused(19);
    CHECK(fogbridge::zstd_decompress(reused.compress(text)) == text);
    CHECK(fogbridge::zstd_decompress(reused.compress("")) == std::string());
    CHECK(fogbridge::zstd_decompress(fogbridge::zstd_compress(text, 1000)) == text);  // clamped

    // Two frames back to back read as one stream.
    CHECK(fogbridge::zstd_decompress(fogbridge::zstd_compress("ab", 3) +
                                     fogbridge::zstd_compress("cd", 3)) == "abcd");

    CHECK_FALSE(fogbridge::zstd_decompress(""));
    CHECK_FALSE(fogbridge::zstd_decompress("not zstd at all"));
    CHECK_FALSE(fogbridge::zstd_decompress(packed.substr(0, packed.size() - 3)));
    CHECK_FALSE(fogbridge::zstd_decompress(packed, text.size() - 1));
    CHECK(fogbridge::zstd_decompress(packed, text.size()) == text);
}
