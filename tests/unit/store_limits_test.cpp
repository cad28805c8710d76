#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store_limits_fixture.hpp"

using namespace store_limits_fixture;

TEST_CASE("limits: drop_oldest by rows drops the oldest pending readings as one gap record") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 5;
    store s(settings);
    CHECK(s.commit(group({1, 2, 3, 4, 5}, 5, 10.0)).dropped == 0);
    const auto r = s.commit(group({6, 7}, 7, 11.0));
    CHECK(r.inserted == 2);
    CHECK(r.dropped == 2);

    const auto st = s.stats();
    CHECK(st.pending_readings == 5);
    CHECK(st.held_readings == 5);
    CHECK(st.held_bytes == 5 * reading_size);
    CHECK(st.drops.store_full_rows == 2);
    CHECK(st.drops.total() == 2);
    CHECK(st.drops_total == st.drops);
    CHECK(st.gap_records == 1);
    CHECK(st.oldest_gap == 11.0);
    CHECK(st.oldest_pending == 10.0);  // 3..5 of the first commit are left

    const auto l = s.lease_batch(10, no_byte_limit, 12.0);
    REQUIRE(l);
    CHECK(seqs_of(*l) == std::vector<std::uint64_t>{3, 4, 5, 6, 7});
    CHECK(l->ranges == ranges{{"d1", 7, 3, 7}});  // 1 and 2 are reported by the gap record
    CHECK(all_gaps(s) ==
          std::vector<gap_record>{gap(drop_reason::store_full_rows, {{1, 2}}, 11.0)});
    CHECK(s.stats().gap_records == 0);
    CHECK_FALSE(s.stats().oldest_gap);
}

TEST_CASE("limits: leased readings are never dropped, and only they may keep the store over") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 3;
    store s(settings);
    s.commit(group({1, 2, 3}, 3, 10.0));
    const auto a = s.lease_batch(10, no_byte_limit, 11.0);
    REQUIRE(a);
    // Nothing older is pending: the commit goes in, over the limit by the leased readings.
    auto r = s.commit(group({4, 5}, 5, 12.0));
    CHECK(r.inserted == 2);
    CHECK(r.dropped == 0);
    CHECK(s.stats().held_readings == 5);
    r = s.commit(group({6}, 6, 13.0));
    CHECK(r.dropped == 2);  // 4 and 5; never 1..3
    CHECK(s.stats().held_readings == 4);
    CHECK(s.stats().leased_readings == 3);
    CHECK(s.ack_batch(a->batch_id));
    const auto b = s.lease_batch(10, no_byte_limit, 14.0);
    REQUIRE(b);
    CHECK(seqs_of(*b) == std::vector<std::uint64_t>{6});
    CHECK(b->ranges == ranges{{"d1", 7, 6, 6}});
    CHECK(all_gaps(s) ==
          std::vector<gap_record>{gap(drop_reason::store_full_rows, {{4, 5}}, 13.0)});
}

TEST_CASE("limits: max_bytes counts the readings' estimated size") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_bytes = 3 * reading_size;
    store s(settings);
    CHECK(s.commit(group({1, 2, 3, 4}, 4, 10.0)).dropped == 0);  // over by this commit alone
    CHECK(s.stats().held_bytes == 4 * reading_size);
    CHECK(s.commit(group({5}, 5, 11.0)).dropped == 2);
    CHECK(s.stats().held_bytes == 3 * reading_size);
    CHECK(s.stats().drops.store_full_bytes == 2);
    CHECK(all_gaps(s) ==
          std::vector<gap_record>{gap(drop_reason::store_full_bytes, {{1, 2}}, 11.0)});
}

TEST_CASE("limits: reject_new refuses a commit over a limit and writes nothing") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 3;
    settings.policy = store_policy::reject_new;
    store s(settings);
    s.commit(group({1, 2, 3}, 3, 10.0));
    auto over = group({4}, 4, 11.0);
    over.filter_states.push_back({"d1", "temperature", "{}"});
    try {
        s.commit(over);
        FAIL("committed");
    } catch (const store_error& e) {
        CHECK(e.code() == store_errc::full);
        CHECK(std::string(e.what()).find("max_rows is 3") != std::string::npos);
    }
    auto st = s.stats();
    CHECK(st.pending_readings == 3);
    CHECK(st.rejected_commits == 1);
    CHECK(st.drops.total() == 0);
    CHECK(s.load_progress() == std::vector<fogbridge::progress_update>{{"d1", 7, 3}});
    CHECK(s.load_filter_states().empty());

    const auto l = s.lease_batch(10, no_byte_limit, 12.0);
    REQUIRE(l);
    CHECK(s.ack_batch(l->batch_id));
    CHECK(s.commit(over).inserted == 1);  // the pipeline's retry
    CHECK(s.load_filter_states().size() == 1);
}

TEST_CASE("limits: reject_new by bytes") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_bytes = 2 * reading_size;
    settings.policy = store_policy::reject_new;
    store s(settings);
    CHECK_THROWS_WITH_AS(s.commit(group({1, 2, 3}, 3, 10.0)), doctest::Contains("max_bytes is"),
                         store_error);
    CHECK(s.commit(group({1, 2}, 2, 10.0)).inserted == 2);
    CHECK(s.commit(group({2}, 2, 10.0)).duplicates == 1);  // a duplicate adds nothing
}

TEST_CASE("limits: low disk drops the oldest pending readings, or refuses when none is left") {
    const temp_dir dir;
    auto settings = dir.settings();
    std::uint64_t free = 1'000'000;
    int measured = 0;
    settings.disk_free = [&]() -> std::optional<std::uint64_t> {
        ++measured;
        return free;
    };
    settings.min_free_bytes = 10'000;
    store s(settings);
    CHECK(measured == 1);  // at open, for stats()
    CHECK(s.stats().disk_free == 1'000'000);
    s.commit(group({1, 2, 3}, 3, 10.0));
    CHECK(measured == 2);
    free = 5'000;
    s.commit(group({4}, 4, 10.5));  // measured at most once a second: not seen yet
    CHECK(measured == 2);
    CHECK(s.stats().drops.total() == 0);

    const auto r = s.commit(group({5, 6}, 6, 11.0));
    CHECK(measured == 3);
    CHECK(s.stats().disk_free == 5'000);
    CHECK(r.dropped == 2);  // as much as goes in, so the file stops growing
    CHECK(s.stats().drops.disk_low == 2);

    const auto l = s.lease_batch(10, no_byte_limit, 12.0);
    REQUIRE(l);
    CHECK(seqs_of(*l) == std::vector<std::uint64_t>{3, 4, 5, 6});
    try {
        s.commit(group({7}, 7, 13.0));  // nothing older pending to drop
        FAIL("committed");
    } catch (const store_error& e) {
        CHECK(e.code() == store_errc::full);
        CHECK(std::string(e.what()).find("no older pending reading") != std::string::npos);
    }
    CHECK(s.stats().rejected_commits == 1);
    CHECK(s.stats().pending_readings == 0);
    CHECK(s.commit(group({}, 6, 13.0)).inserted == 0);  // progress alone still goes in
    free = 1'000'000;
    CHECK(s.commit(group({7}, 7, 14.0)).inserted == 1);
}

TEST_CASE("limits: reject_new refuses on low disk") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.disk_free = [] { return std::optional<std::uint64_t>(100); };
    settings.min_free_bytes = 1'000;
    settings.policy = store_policy::reject_new;
    store s(settings);
    try {
        s.commit(group({1}, 1, 10.0));
        FAIL("committed");
    } catch (const store_error& e) {
        CHECK(e.code() == store_errc::full);
        const std::string expected = "store full: free disk space would be " +
                                     std::to_string(100 - reading_size) +
                                     " bytes, min_free_bytes is 1000";
        CHECK(std::string(e.what()).rfind(expected, 0) == 0);
    }
    CHECK(s.stats().pending_readings == 0);
}

TEST_CASE("limits: an unknown free space does not stop commits") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.disk_free = [] { return std::optional<std::uint64_t>(); };
    settings.min_free_bytes = 1'000;
    store s(settings);
    CHECK(s.commit(group({1}, 1, 10.0)).inserted == 1);
    CHECK_FALSE(s.stats().disk_free);
}

TEST_CASE("limits: the real free space of the store's filesystem is measured") {
    const temp_dir dir;
    store s(dir.settings());
    REQUIRE(s.stats().disk_free);
    CHECK(*s.stats().disk_free > 0);
}

TEST_CASE("ttl: expire drops pending readings enqueued before now - ttl") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 60;
    store s(settings);
    s.commit(group({1, 2}, 2, 100.0));
    s.commit(group({3}, 3, 150.0));
    CHECK(s.expire(159.0) == 0);
    CHECK(s.expire(161.0) == 2);
    CHECK(s.expire(161.0) == 0);
    auto st = s.stats();
    CHECK(st.drops.ttl == 2);
    CHECK(st.pending_readings == 1);
    CHECK(st.oldest_pending == 150.0);
    const auto l = s.lease_batch(10, no_byte_limit, 162.0);
    REQUIRE(l);
    CHECK(l->ranges == ranges{{"d1", 7, 3, 3}});
    CHECK(s.expire(1000.0) == 0);  // leased readings do not expire
    CHECK(s.stats().leased_readings == 1);
    CHECK(all_gaps(s) == std::vector<gap_record>{gap(drop_reason::ttl, {{1, 2}}, 161.0)});
}

TEST_CASE("ttl: none by default") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(group({1}, 1, 100.0));
    CHECK(s.expire(1e12) == 0);
}

TEST_CASE("stats: held bytes and rows count leased readings until acknowledged, also reopened") {
    const temp_dir dir;
    std::string batch;
    {
        store s(dir.settings());
        s.commit(group({1, 2, 3}, 3, 10.0));
        batch = s.lease_batch(2, no_byte_limit, 11.0)->batch_id;
        const auto st = s.stats();
        CHECK(st.leased_bytes == 2 * reading_size);
        CHECK(st.held_bytes == 3 * reading_size);
        CHECK(st.held_readings == 3);
        CHECK(st.oldest_pending == 10.0);
    }
    store s(dir.settings());
    auto st = s.stats();
    CHECK(st.leased_bytes == 2 * reading_size);
    CHECK(st.held_bytes == 3 * reading_size);
    CHECK(s.ack_batch(batch));
    st = s.stats();
    CHECK(st.leased_bytes == 0);
    CHECK(st.held_bytes == reading_size);
    CHECK(st.held_readings == 1);
}

TEST_CASE("prune_progress forgets finished, idle boots only") {
    const temp_dir dir;
    store s(dir.settings());
    commit_set set;
    set.readings = {rd(1, "held", 1)};
    set.progress = {{"done", 1, 5}, {"held", 1, 1}, {"open", 1, 3}};
    set.now = 100.0;
    s.commit(set);
    const auto l = s.lease_batch(10, no_byte_limit, 101.0);  // covers all three
    REQUIRE(l);
    commit_set later;
    later.progress = {{"open", 1, 5}};  // uncovered again
    later.now = 150.0;
    s.commit(later);
    later.progress = {{"recent", 1, 2}};
    later.now = 300.0;
    s.commit(later);

    // "held" still has a reading in flight, "open" is not covered, "recent" not idle.
    CHECK(s.prune_progress(200.0) == 1);
    CHECK(s.load_progress() == std::vector<fogbridge::progress_update>{
                                   {"held", 1, 1}, {"open", 1, 5}, {"recent", 1, 2}});
    CHECK(s.ack_batch(l->batch_id));
    CHECK(s.prune_progress(200.0) == 1);  // "held"
    CHECK(s.prune_progress(200.0) == 0);
    CHECK(s.stats().uncovered);  // "open" and "recent" are untouched
    CHECK(s.load_progress().size() == 2);
}
