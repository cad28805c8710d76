#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "batch/batch.hpp"
#include "batch/compress.hpp"

using fogbridge::batch_layout;
using fogbridge::reading;
using fogbridge::seq_range;
using nlohmann::json;

namespace {

// The readings of a decoded batch of either layout, in the rows form, the way consumers read it.
std::vector<reading> rows_of(const json& b) {
    std::vector<reading> out;
    if (!b.contains("series")) {
        for (const auto& r : b["readings"]) {
            out.push_back({r["device"], r["sensor"], r["value"], r.value("unit", ""), r["ts"],
                           r["boot"], r["seq"], std::nullopt, r.contains("ts_src")});
        }
        return out;
    }
    for (const auto& s : b["series"]) {
        std::uint64_t seq = 0;
        std::int64_t ms = 0;
        std::vector<bool> gw(s["value"].size(), false);
        const json marks = s.value("ts_gw", json::array());
        if (marks.is_boolean()) gw.assign(gw.size(), marks.get<bool>());
        for (const auto& k : marks.is_array() ? marks : json::array())
            gw[k.get<std::size_t>()] = true;
        for (std::size_t i = 0; i < s["value"].size(); ++i) {
            seq += s["seq"][i].get<std::int64_t>();
            double ts = 0;
            if (s.contains("ts")) {
                ms += s["ts"][i].get<std::int64_t>();
                ts = static_cast<double>(ms) / 1000.0;
            } else {
                ts = s["ts_s"][i];
            }
            out.push_back({s["device"], s["sensor"], s["value"][i], s.value("unit", ""), ts,
                           s["boot"], seq, std::nullopt, gw[i]});
        }
    }
    return out;
}

std::vector<reading> sorted(std::vector<reading> v) {
    std::sort(v.begin(), v.end(), [](const reading& a, const reading& b) {
        return std::tie(a.device, a.boot, a.seq, a.sensor) <
               std::tie(b.device, b.boot, b.seq, b.sensor);
    });
    return v;
}

std::string encode(const std::vector<reading>& rs, const std::vector<seq_range>& ranges,
                   batch_layout layout) {
    return fogbridge::encode_batch({"gw-01", "b-1", 1732630000.5, false, rs, ranges, layout});
}

}  // namespace

TEST_CASE("columnar: a small batch encodes to exactly the expected text") {
    const std::vector<reading> readings{
        {"d1", "temperature", 21.37, "C", 1732630000.123, 7, 1042},
        {"d1", "humidity", 40.0, "", 1732630000.5, 7, 1043},
        {"d1", "temperature", 21.5, "C", 1732630001.123, 7, 1044},
        {"d1", "temperature", 21.25, "C", 1732630002.5, 7, 1046, 3.0, true},
    };
    const std::vector<seq_range> ranges{{"d1", 7, 1000, 1046}};
    CHECK(encode(readings, ranges, batch_layout::columnar) ==
          R"({"gateway":"gw-01","batch_id":"b-1","created":1732630000.5,"replay":false,)"
          R"("layout":"columnar","layout_version":2,"series":[)"
          R"({"device":"d1","sensor":"temperature","boot":7,"unit":"C","seq":[1042,2,2],)"
          R"("ts":[1732630000123,1000,1377],"value":[21.37,21.5,21.25],"ts_gw":[2]},)"
          R"({"device":"d1","sensor":"humidity","boot":7,"seq":[1043],"ts":[1732630000500],)"
          R"("value":[40]}],)"
          R"("ranges":[{"device":"d1","boot":7,"first":1000,"last":1046}]})");
}

TEST_CASE("columnar: ts that milliseconds cannot carry exactly go as seconds") {
    const std::vector<reading> readings{
        {"d1", "t", 1.0, "", 1732630000.0001, 1, 1},
        {"d1", "t", 2.0, "", 1732630001.5, 1, 2},
    };
    const auto text = fogbridge::encode_batch_columnar(
        {"gw", "b", 1.0, false, readings, {}, batch_layout::columnar});
    CHECK(text.find(R"("ts_s":[1732630000.0001,1732630001.5])") != std::string::npos);
    CHECK(rows_of(json::parse(text)) == readings);
}

TEST_CASE("columnar: random batches read back exactly as the rows layout carries them") {
    std::mt19937_64 rng(19);
    std::uniform_int_distribution<int> pick(0, 3);
    std::uniform_real_distribution<double> value(-1e6, 1e6);
    const std::vector<std::string> devices{"d1", "board-2", "x"};
    const std::vector<std::string> sensors{"t", "humidity", "co2"};
    for (int round = 0; round < 200; ++round) {
        std::vector<reading> rs;
        std::uint64_t seq = 1 + rng() % 1000;
        const int n = static_cast<int>(rng() % 60);
        const bool all_gw = round % 4 == 0;  // boards without a clock: "ts_gw": true
        for (int i = 0; i < n; ++i) {
            seq += 1 + rng() % 3;
            const double ts = pick(rng) == 0 ? 1.7e9 + value(rng)
                                             : 1.7e9 + static_cast<double>(rng() % 100000) / 1000.0;
            rs.push_back({devices[rng() % 3], sensors[rng() % 3], pick(rng) == 0 ? 0.5 : value(rng),
                          pick(rng) == 0 ? "C" : "", ts, rng() % 3, seq, std::nullopt,
                          all_gw || pick(rng) == 0});
        }
        const std::vector<seq_range> ranges{{"d1", 0, 1, 9}};
        const auto rows = json::parse(encode(rs, ranges, batch_layout::rows));
        const auto cols = json::parse(fogbridge::encode_batch_columnar(
            {"gw-01", "b-1", 1732630000.5, false, rs, ranges, batch_layout::columnar}));
        CHECK(cols["layout"] == "columnar");
        CHECK(cols["ranges"] == rows["ranges"]);
        CHECK(cols["batch_id"] == rows["batch_id"]);
        CHECK(sorted(rows_of(cols)) == sorted(rows_of(rows)));
        CHECK(sorted(rows_of(rows)) == sorted(rs));
    }
}

TEST_CASE(
    "columnar never outgrows the rows size the lease counted: one-reading series go as rows") {
    // Every reading its own series: the columnar layout would be longer than rows.
    std::vector<reading> singles;
    for (std::uint64_t i = 1; i <= 50; ++i) {
        singles.push_back({"d" + std::to_string(i), "t", 1.0, "", 1732630000.0, 1, i});
    }
    const auto rows = encode(singles, {}, batch_layout::rows);
    CHECK(fogbridge::encode_batch_columnar(
              {"gw-01", "b-1", 1732630000.5, false, singles, {}, batch_layout::columnar})
              .size() > rows.size());
    CHECK(encode(singles, {}, batch_layout::columnar) == rows);

    // A batch leased right up to a size limit by the rows sizes fits it in either layout.
    std::vector<reading> many;
    const std::size_t limit = 4096;
    std::size_t counted = 0;
    for (std::uint64_t i = 1;; ++i) {
        const auto x = static_cast<double>(i);
        reading r{"d" + std::to_string(i % 7), "t", 20.0 + x, "C", 1732630000.0 + x, 1, i};
        if (counted + fogbridge::encoded_size(r) > limit) break;
        counted += fogbridge::encoded_size(r);
        many.push_back(r);
    }
    const auto empty = encode({}, {}, batch_layout::rows).size();
    CHECK(encode(many, {}, batch_layout::rows).size() <= limit + empty);
    const auto cols = encode(many, {}, batch_layout::columnar);
    CHECK(json::parse(cols).contains("series"));
    CHECK(cols.size() <= limit + empty);

    // The same with every ts placed by the gateway: rows count ts_src per reading, columnar
    // says it once a series.
    for (auto& r : many) r.ts_from_gateway = true;
    const auto gw_cols = encode(many, {}, batch_layout::columnar);
    CHECK(json::parse(gw_cols)["series"][0]["ts_gw"] == true);
    CHECK(gw_cols.size() <= limit + empty);
    CHECK(gw_cols.size() < encode(many, {}, batch_layout::rows).size());
}

TEST_CASE("columnar compresses to a fraction of rows on a steady series") {
    std::vector<reading> rs;
    for (std::uint64_t i = 1; i <= 1000; ++i) {
        rs.push_back({"occ-01", "temperature", 23.0 + static_cast<double>(i % 7) * 0.25, "C",
                      1423000000.0 + static_cast<double>(i) * 60, 3, i});
    }
    const auto rows = fogbridge::zstd_compress(encode(rs, {}, batch_layout::rows), 3);
    const auto cols = fogbridge::zstd_compress(encode(rs, {}, batch_layout::columnar), 3);
    MESSAGE("zstd -3 bytes for 1000 readings: rows ", rows.size(), ", columnar ", cols.size());
    CHECK(cols.size() * 3 < rows.size());
}

TEST_CASE("batch_layout_named") {
    CHECK(fogbridge::batch_layout_named("columnar") == batch_layout::columnar);
    CHECK(fogbridge::batch_layout_named("rows") == batch_layout::rows);
    CHECK(fogbridge::batch_layout_named("auto") == batch_layout::rows);
}

TEST_CASE("columnar: ts_gw is true when the gateway placed every ts of a series, else indexes") {
    std::vector<reading> rs{
        {"d1", "t", 1.0, "", 1796470000.001, 7, 1, std::nullopt, true},
        {"d1", "t", 2.0, "", 1796470000.002, 7, 2, std::nullopt, true},
        {"d1", "rh", 3.0, "", 1796470000.003, 7, 3, std::nullopt, false},
        {"d1", "rh", 4.0, "", 1796470000.004, 7, 4, std::nullopt, true},
    };
    const auto text = fogbridge::encode_batch_columnar(
        {"gw-01", "b-1", 1732630000.5, false, rs, {}, batch_layout::columnar});
    const auto b = json::parse(text);
    CHECK(b["layout_version"] == 2);
    CHECK(b["series"][0]["ts_gw"] == true);
    CHECK(b["series"][1]["ts_gw"] == json::array({1}));
    CHECK(rows_of(b) == rows_of(json::parse(encode(rs, {}, batch_layout::rows))));
}
