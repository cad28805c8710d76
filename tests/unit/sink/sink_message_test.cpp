// fogbridge-sink message parsing: topics, JSON and zstd batches, what is rejected and why.
#include "sink_message.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "batch/batch.hpp"
#include "batch/compress.hpp"

using namespace fogbridge::sink;

namespace {

const char* good_batch =
    R"({"gateway":"gw-01","batch_id":"gw-01-1","created":1732630005.25,"replay":true,)"
    R"("readings":[{"device":"s1","sensor":"t","value":21.5,"unit":"C","ts":1732630000.1,)"
    R"("boot":7,"seq":3}],"ranges":[{"device":"s1","boot":7,"first":1,"last":3}]})";

message parse(std::string_view topic, std::string_view payload) {
    return parse_message("fogbridge", {.topic = topic, .payload = payload}, {});
}

std::string reason(const message& m) {
    const auto* r = std::get_if<rejected_message>(&m);
    return r != nullptr ? r->reason : "";
}

}  // namespace

TEST_CASE("a JSON batch becomes rows and ranges") {
    const auto m = parse("fogbridge/gw-01/batch", good_batch);
    const auto* b = std::get_if<batch_message>(&m);
    REQUIRE(b != nullptr);
    CHECK(b->batch_id == "gw-01-1");
    CHECK(b->replay);
    CHECK(!b->compressed);
    REQUIRE(b->readings.size() == 1);
    CHECK(b->readings[0].seq == 3);
    CHECK(b->readings[0].unit == std::optional<std::string>("C"));
    REQUIRE(b->ranges.size() == 1);
    CHECK(b->ranges[0].first == 1);
}

TEST_CASE("a zstd batch is recognised by its magic bytes") {
    const std::string packed = fogbridge::zstd_compress(good_batch, 3);
    CHECK(is_zstd(packed));
    CHECK(!is_zstd(good_batch));
    const auto m = parse("fogbridge/gw-01/batch", packed);
    const auto* b = std::get_if<batch_message>(&m);
    REQUIRE(b != nullptr);
    CHECK(b->compressed);
    CHECK(b->readings.size() == 1);
    CHECK(reason(parse("fogbridge/gw-01/batch", std::string("\x28\xB5\x2F\xFD garbage", 12))) ==
          "bad_zstd");
}

TEST_CASE("hostile messages are rejected with a reason") {
    CHECK(reason(parse("fogbridge/gw-01/batch", "{not json")) == "bad_json");
    CHECK(reason(parse("fogbridge/gw-01/batch", "[1,2]")) == "bad_type");
    CHECK(reason(parse("fogbridge/gw-01/batch", R"({"gateway":"gw-01","batch_id":"x"})")) ==
          "missing_field");
    CHECK(reason(parse("fogbridge/gw-02/batch", good_batch)) == "gateway_mismatch");
    CHECK(reason(parse("fogbridge/gw-01/nonsense", "{}")) == "unknown_topic");
    CHECK(reason(parse("elsewhere/gw-01/batch", good_batch)) == "unknown_topic");
    CHECK(reason(parse("fogbridge/gw-01/status", "maybe")) == "bad_status");
    parse_limits small;
    small.max_payload_bytes = 10;
    CHECK(reason(parse_message("fogbridge",
                               {.topic = "fogbridge/gw-01/batch", .payload = good_batch}, small)) ==
          "too_large");
    small = {};
    small.max_readings = 0;
    CHECK(reason(parse_message("fogbridge",
                               {.topic = "fogbridge/gw-01/batch", .payload = good_batch}, small)) ==
          "too_large");
}

TEST_CASE("a reading of the wrong type is left out, the rest of the batch kept") {
    const auto m = parse("fogbridge/gw-01/batch",
                         R"({"gateway":"gw-01","batch_id":"b","readings":[)"
                         R"({"device":"s1","sensor":"t","value":1,"ts":1,"boot":1,"seq":1},)"
                         R"({"device":"s1","sensor":"t","value":"hot","ts":1,"boot":1,"seq":2},)"
                         R"({"device":"s/1","sensor":"t","value":1,"ts":1,"boot":1,"seq":3},)"
                         R"({"device":"s1","sensor":"t","value":1,"ts":1,"boot":1,"seq":0}],)"
                         R"("ranges":[{"device":"s1","boot":1,"first":5,"last":4}]})");
    const auto* b = std::get_if<batch_message>(&m);
    REQUIRE(b != nullptr);
    CHECK(b->readings.size() == 1);
    REQUIRE(b->rejected.size() == 4);
    CHECK(b->rejected[0].reason == "bad_type");
    CHECK(b->rejected[1].reason == "bad_id");
    CHECK(b->rejected[2].reason == "out_of_range");
    CHECK(b->ranges.empty());
    REQUIRE(b->refused.size() == 1);  // s/1 has no valid device, seq 0 no valid seq
    CHECK(b->refused[0].seq == 2);
}

TEST_CASE("gap records, alerts, health and status") {
    const auto g = parse("fogbridge/gw-01/gaps",
                         R"({"gateway":"gw-01","gap_id":"g1","gaps":[{"device":"s1","boot":1,)"
                         R"("reason":"store_full","first_seq":4,"last_seq":9,"count":3,)"
                         R"("dropped":[[4,5],[9,9]]}]})");
    const auto* gm = std::get_if<gaps_message>(&g);
    REQUIRE(gm != nullptr);
    REQUIRE(gm->gaps.size() == 1);
    CHECK(gm->gaps[0].dropped.size() == 2);
    CHECK(std::holds_alternative<alert_message>(
        parse("fogbridge/gw-01/alerts", R"({"gateway":"gw-01","device":"s1","ts":5,"value":81})")));
    const auto h = parse("fogbridge/gw-01/devices/s1/health", R"({"device":"s1","ts":5})");
    REQUIRE(std::holds_alternative<health_message>(h));
    CHECK(std::get<health_message>(h).device == "s1");
    CHECK(reason(parse("fogbridge/gw-01/devices/s1/health", R"({"device":"s2"})")) ==
          "device_mismatch");
    CHECK(std::holds_alternative<status_message>(parse("fogbridge/gw-01/status", "online")));
}

TEST_CASE("subscriptions under a share group") {
    const auto plain = subscriptions({.prefix = "fogbridge", .share_group = ""});
    CHECK(plain.front() == "fogbridge/+/batch");
    const auto shared = subscriptions({.prefix = "site/a", .share_group = "sinks"});
    CHECK(shared.front() == "$share/sinks/site/a/+/batch");
    CHECK(shared.size() == 6);
}

TEST_CASE("a columnar batch, plain or zstd, becomes the same rows as the rows layout") {
    const std::vector<fogbridge::reading> rs{
        {"s1", "t", 21.5, "C", 1732630000.1, 7, 3},
        {"s1", "t", 21.75, "C", 1732630001.1, 7, 5},
        {"s1", "rh", 40.0, "", 1732630000.2, 7, 4},
        {"s2", "t", 19.0, "", 1732630000.0001, 1, 9},
    };
    const std::vector<fogbridge::seq_range> ranges{{"s1", 7, 1, 5}};
    auto rows_of = [&](fogbridge::batch_layout layout, bool zstd) {
        std::string p =
            fogbridge::encode_batch_columnar({"gw-01", "gw-01-2", 1.0, false, rs, ranges, layout});
        if (layout == fogbridge::batch_layout::rows)
            p = fogbridge::encode_batch({"gw-01", "gw-01-2", 1.0, false, rs, ranges});
        if (zstd) p = fogbridge::zstd_compress(p, 3);
        const auto m = parse("fogbridge/gw-01/batch", p);
        const auto* b = std::get_if<batch_message>(&m);
        REQUIRE(b != nullptr);
        CHECK(b->rejected.empty());
        CHECK(b->ranges.size() == 1);
        std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t, std::string, double,
                               std::optional<double>, std::optional<std::string>>>
            out;
        for (const auto& r : b->readings)
            out.emplace_back(r.device, r.boot, r.seq, r.sensor, r.ts, r.value, r.unit);
        std::sort(out.begin(), out.end());
        return out;
    };
    const auto expected = rows_of(fogbridge::batch_layout::rows, false);
    CHECK(expected.size() == 4);
    CHECK(rows_of(fogbridge::batch_layout::columnar, false) == expected);
    CHECK(rows_of(fogbridge::batch_layout::columnar, true) == expected);
}

TEST_CASE("a damaged columnar series is rejected with a reason") {
    const std::string head =
        R"({"gateway":"gw-01","batch_id":"b","layout":"columnar","ranges":[],"series":[)";
    CHECK(
        reason(parse(
            "fogbridge/gw-01/batch",
            head +
                R"({"device":"s1","sensor":"t","boot":1,"seq":[1,1],"ts":[5],"value":[1,2]}]})")) ==
        "bad_type");
    CHECK(reason(parse(
              "fogbridge/gw-01/batch",
              head +
                  R"({"device":"s1","sensor":"t","boot":1,"seq":[1.5],"ts":[5],"value":[1]}]})")) ==
          "bad_type");
    CHECK(reason(parse("fogbridge/gw-01/batch", head + R"(7]})")) == "bad_type");
    const auto m =
        parse("fogbridge/gw-01/batch",
              head + R"({"device":"s1","sensor":"t","boot":1,"seq":[0],"ts":[5],"value":[1]}]})");
    const auto* b = std::get_if<batch_message>(&m);
    REQUIRE(b != nullptr);
    CHECK(b->readings.empty());
    CHECK(b->rejected.size() == 1);
}

TEST_CASE("columnar layout versions: 1 and 2 read the same, a later one is refused") {
    const std::string series =
        R"("ranges":[],"series":[{"device":"s1","sensor":"t","boot":1,"seq":[1,1],)"
        R"("ts":[5000,1000],"value":[1,2],"ts_gw":)";
    const std::string head = R"({"gateway":"gw-01","batch_id":"b","layout":"columnar",)";
    for (const std::string v : {"", R"("layout_version":2,)"}) {
        for (const std::string gw : {"[0,1]}]}", "true}]}"}) {
            const auto m = parse("fogbridge/gw-01/batch", head + v + series + gw);
            const auto* b = std::get_if<batch_message>(&m);
            REQUIRE(b != nullptr);
            REQUIRE(b->readings.size() == 2);
            CHECK(b->readings[1].seq == 2);
            CHECK(b->readings[1].ts == 6.0);
        }
    }
    CHECK(reason(parse("fogbridge/gw-01/batch",
                       head + R"("layout_version":3,)" + series + "true}]}")) == "out_of_range");
}
