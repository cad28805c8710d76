// Seqs acknowledged and then lost by the store (a power cut with synchronous = "normal"): the
// processor gives them up once the device goes on past its retained ack, and the store records
// them as a store_lost gap record.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "pipeline/processor.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::decode_settings;
using fogbridge::drop_reason;
using fogbridge::filter_settings;
using fogbridge::inbound_message;
using fogbridge::processor;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

constexpr double t0 = 1732630000.0;

inbound_message reading(int seq) {
    return {"devices/d1/readings", R"({"sensor":"t","value":1.5,"ts":)" + std::to_string(t0) +
                                       R"(,"boot":3,"seq":)" + std::to_string(seq) + "}"};
}

inbound_message ack(int boot, int seq) {
    return {"devices/d1/ack",
            R"({"boot":)" + std::to_string(boot) + R"(,"seq":)" + std::to_string(seq) + "}"};
}

fogbridge::group_result feed(processor& p, std::vector<inbound_message> group) {
    return p.process(group, t0);
}

}  // namespace

TEST_CASE("lost acks: a device past its retained ack makes the seqs between a store_lost gap") {
    processor p("gw-01", decode_settings{}, filter_settings{});
    feed(p, {reading(1), reading(2)});  // the store's mark: 2
    // Read back after a restart: the device was told 10.
    auto out = feed(p, {ack(3, 10), reading(11)});
    REQUIRE(out.commit.lost.size() == 1);
    CHECK(out.commit.lost[0] == fogbridge::lost_range{"d1", 3, 3, 10});
    REQUIRE(out.commit.readings.size() == 1);
    CHECK(out.commit.readings[0].seq == 11U);
    CHECK(p.counters().lost == 8);
    CHECK(p.counters().out_of_order == 0);
    REQUIRE_FALSE(out.acks.empty());
    CHECK(std::get<2>(out.acks.back()) == 11U);
    // The claim is used up: a later gap is left to go-back-N again.
    out = feed(p, {reading(13)});
    CHECK(out.commit.lost.empty());
    CHECK(p.counters().out_of_order == 1);
}

TEST_CASE("lost acks: our own acks read back and re-sends within the claim change nothing") {
    processor p("gw-01", decode_settings{}, filter_settings{});
    feed(p, {reading(1), reading(2), reading(3)});
    auto out = feed(p, {ack(3, 3), reading(5)});  // an echo of our ack; 4 is only late
    CHECK(out.commit.lost.empty());
    CHECK(p.counters().out_of_order == 1);
    // A claim ahead of the mark, but the device re-sends a seq within it: it still has it.
    out = feed(p, {ack(3, 8), reading(6)});
    CHECK(out.commit.lost.empty());
    CHECK(p.counters().messages == 5);  // acks are not device messages
    CHECK(p.counters().rejected.empty());
}

TEST_CASE("lost acks: the store records the range as a store_lost gap record") {
    scratch_dir dir("fogbridge-lost");
    store_settings settings;
    settings.reading_size = fogbridge::encoded_size;
    settings.path = dir.path() / "store.db";
    {
        store s(settings);
        commit_set set;
        set.progress.push_back({"d1", 3, 2});
        set.now = t0;
        s.commit(set);
        commit_set lost;
        lost.progress.push_back({"d1", 3, 10});
        lost.lost.push_back({"d1", 3, 3, 10});
        lost.now = t0 + 1;
        s.commit(lost);
        CHECK(s.stats().drops.store_lost == 8);
        CHECK(s.stats().gap_records == 1);
        const auto l = s.lease_gaps(100, t0 + 2);
        REQUIRE(l);
        REQUIRE(l->records.size() == 1);
        const auto& g = l->records[0];
        CHECK(g.reason == drop_reason::store_lost);
        CHECK(g.first == 3U);
        CHECK(g.last == 10U);
        CHECK(g.count == 8U);
        CHECK(fogbridge::to_string(g.reason) == "store_lost");
    }
    store again(settings);  // the total survives a restart
    CHECK(again.stats().drops_total.store_lost == 8);
}
