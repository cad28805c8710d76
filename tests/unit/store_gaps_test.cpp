#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store_limits_fixture.hpp"

using namespace store_limits_fixture;

TEST_CASE("gaps: one record spans filtered seqs between dropped readings") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    s.commit(group({1, 5}, 6, 100.0));  // 2..4 and 6 filtered
    s.commit(group({9, 10}, 12, 101.0));
    CHECK(s.expire(200.0) == 4);
    const std::vector<gap_record> expected{gap(drop_reason::ttl, {{1, 1}, {5, 5}, {9, 10}}, 200.0)};
    // Nothing is left to report: the watermark passes the record's span by itself.
    const auto l = s.lease_batch(10, no_byte_limit, 201.0);
    REQUIRE(l);
    CHECK(l->readings.empty());
    CHECK(l->ranges == ranges{{"d1", 7, 11, 12}});
    CHECK_FALSE(s.stats().uncovered);
    CHECK(all_gaps(s) == expected);
}

TEST_CASE("gaps: a record's span covering everything processed needs no batch") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    s.commit(group({1, 3}, 3, 100.0));
    CHECK(s.stats().uncovered);
    CHECK(s.expire(200.0) == 2);
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 201.0));
    CHECK_FALSE(s.stats().uncovered);
    CHECK(s.stats().leased_batches == 0);
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{1, 1}, {3, 3}}, 200.0)});
}

TEST_CASE("gaps: a record does not span a pending reading") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    s.commit(group({1, 9}, 4, 100.0));  // 9 came early
    s.commit(group({5}, 10, 150.0));    // 5 is kept and stays pending
    CHECK(s.expire(155.0) == 2);
    const auto l = s.lease_batch(10, no_byte_limit, 156.0);
    REQUIRE(l);
    CHECK(seqs_of(*l) == std::vector<std::uint64_t>{5});
    CHECK(l->ranges == ranges{{"d1", 7, 2, 8}, {"d1", 7, 10, 10}});
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{1, 1}}, 155.0),
                                                 gap(drop_reason::ttl, {{9, 9}}, 155.0)});
}

TEST_CASE("gaps: a record does not span seqs not processed yet") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    s.commit(group({1, 9}, 1, 100.0));  // 2..8 have not arrived
    CHECK(s.expire(200.0) == 2);
    s.commit(group({}, 10, 201.0));  // they did, all filtered
    const auto l = s.lease_batch(10, no_byte_limit, 202.0);
    REQUIRE(l);
    CHECK(l->ranges == ranges{{"d1", 7, 2, 8}, {"d1", 7, 10, 10}});
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{1, 1}}, 200.0),
                                                 gap(drop_reason::ttl, {{9, 9}}, 200.0)});
}

TEST_CASE("gaps: another reason or a leased record starts a new record") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    settings.max_rows = 2;
    store s(settings);
    s.commit(group({1}, 1, 100.0));
    CHECK(s.expire(200.0) == 1);  // ttl: 1
    s.commit(group({2, 3}, 3, 201.0));
    CHECK(s.commit(group({4}, 4, 202.0)).dropped == 1);  // rows: 2
    const auto first = s.lease_gaps(10, 203.0);
    REQUIRE(first);
    CHECK(first->records ==
          std::vector<gap_record>{gap(drop_reason::ttl, {{1, 1}}, 200.0),
                                  gap(drop_reason::store_full_rows, {{2, 2}}, 202.0)});
    CHECK(s.commit(group({5}, 5, 204.0)).dropped == 1);  // rows: 3, adjacent but leased
    CHECK(all_gaps(s) ==
          std::vector<gap_record>{gap(drop_reason::store_full_rows, {{3, 3}}, 204.0)});
    CHECK(s.ack_gaps(first->gap_id));
    CHECK_FALSE(s.ack_gaps(first->gap_id));
}

TEST_CASE("gaps: a record takes at most 64 runs; adjacent seqs still extend it") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    std::vector<std::uint64_t> kept;
    for (std::uint64_t i = 1; i <= 70; ++i) {
        kept.push_back(2 * i);  // every odd seq filtered
    }
    kept.push_back(141);
    s.commit(group(kept, 141, 100.0));
    CHECK(s.expire(200.0) == 71);
    const auto gaps = all_gaps(s);
    REQUIRE(gaps.size() == 2);
    CHECK(gaps[0].dropped.size() == 64);
    CHECK(gaps[0].first == 2);
    CHECK(gaps[0].last == 128);
    CHECK(gaps[1].first == 130);
    CHECK(gaps[1].dropped ==
          runs{{130, 130}, {132, 132}, {134, 134}, {136, 136}, {138, 138}, {140, 141}});
    CHECK(gaps[1].count == 7);
}

TEST_CASE("gaps: a drop below an earlier record's span makes a record of its own") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    s.commit(group({9}, 0, 100.0));  // early
    CHECK(s.expire(200.0) == 1);
    s.commit(group({3}, 3, 201.0));
    CHECK(s.expire(300.0) == 1);
    s.commit(group({4}, 4, 301.0));
    CHECK(s.expire(400.0) == 1);
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{9, 9}}, 200.0),
                                                 gap(drop_reason::ttl, {{3, 3}}, 300.0),
                                                 gap(drop_reason::ttl, {{4, 4}}, 400.0)});
    s.commit(group({}, 10, 401.0));
    const auto l = s.lease_batch(10, no_byte_limit, 402.0);
    REQUIRE(l);
    CHECK(l->ranges == ranges{{"d1", 7, 1, 2}, {"d1", 7, 5, 8}, {"d1", 7, 10, 10}});
}

TEST_CASE("gaps: drops of several devices, and a re-stored copy of a carried reading") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    store s(settings);
    commit_set set;
    set.readings = {rd(1, "d2", 1), rd(1), rd(2, "d2", 1)};
    set.progress = {{"d1", 7, 1}, {"d2", 1, 2}};
    set.now = 100.0;
    s.commit(set);
    const auto l = s.lease_batch(1, no_byte_limit, 101.0);  // d2/1/1
    REQUIRE(l);
    CHECK(s.ack_batch(l->batch_id));
    commit_set again;
    again.readings = {rd(1, "d2", 1)};  // stored again after its ack
    again.now = 102.0;
    CHECK(s.commit(again).inserted == 1);
    CHECK(s.expire(200.0) == 3);
    // The copy of d2/1/1 was accounted by its batch already: no gap for it.
    CHECK(s.stats().drops.ttl == 2);
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{1, 1}}, 200.0),
                                                 gap(drop_reason::ttl, {{2, 2}}, 200.0, "d2", 1)});
}

TEST_CASE("gaps: leased gap records survive a restart unchanged, new ones get new ids") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    std::vector<fogbridge::gap_lease> before;
    {
        store s(settings);
        s.commit(group({1, 3}, 3, 100.0));
        s.expire(200.0);
        before.push_back(*s.lease_gaps(10, 201.0));
        s.commit(group({5}, 5, 202.0));
        s.expire(300.0);
        CHECK(s.stats().gap_records == 1);
        CHECK(s.leased_gaps() == before);
    }
    store s(settings);
    CHECK(s.leased_gaps() == before);
    CHECK(before[0].gap_id == s.epoch() + "-g1");
    CHECK(before[0].created == 201.0);
    const auto st = s.stats();
    CHECK(st.gap_records == 1);
    CHECK(st.leased_gap_messages == 1);
    CHECK(st.oldest_gap == 300.0);
    CHECK(st.drops.total() == 0);  // since open
    CHECK(st.drops_total.ttl == 3);
    const auto next = s.lease_gaps(10, 301.0);
    REQUIRE(next);
    CHECK(next->gap_id == s.epoch() + "-g2");
    CHECK(next->records == std::vector<gap_record>{gap(drop_reason::ttl, {{5, 5}}, 300.0)});
    CHECK(s.ack_gaps(before[0].gap_id));
    CHECK(s.leased_gaps() == std::vector<fogbridge::gap_lease>{*next});
    CHECK(s.stats().leased_gap_messages == 1);
}

TEST_CASE("gaps: records made after all were acknowledged are leased, also after a restart") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 10;
    {
        store s(settings);
        s.commit(group({1}, 1, 100.0));
        s.expire(200.0);
        CHECK(all_gaps(s).size() == 1);
    }
    store s(settings);
    CHECK_FALSE(s.lease_gaps(10, 201.0));
    s.commit(group({2}, 2, 202.0));
    s.expire(300.0);
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{2, 2}}, 300.0)});
}
