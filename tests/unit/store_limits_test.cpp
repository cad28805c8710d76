#include <doctest/doctest.h>

#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <string>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using fogbridge::commit_set;
using fogbridge::drop_reason;
using fogbridge::gap_record;
using fogbridge::reading;
using fogbridge::seq_range;
using fogbridge::seq_run;
using fogbridge::store;
using fogbridge::store_errc;
using fogbridge::store_error;
using fogbridge::store_policy;
using fogbridge::store_settings;
using ranges = std::vector<seq_range>;
using runs = std::vector<seq_run>;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-limits") {}

    store_settings settings() const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / "store.db";
        out.synchronous = fogbridge::sync_mode::normal;
        return out;
    }
};

reading rd(std::uint64_t seq, const std::string& device = "d1", std::uint64_t boot = 7) {
    return {device, "temperature", 1.5, "C", 1000.0 + static_cast<double>(seq), boot, seq};
}

// Kept readings `seqs` of d1/7 with the processed mark, committed at `now`.
commit_set group(const std::vector<std::uint64_t>& seqs, std::uint64_t processed, double now) {
    commit_set set;
    for (const std::uint64_t s : seqs) {
        set.readings.push_back(rd(s));
    }
    set.progress.push_back({"d1", 7, processed});
    set.now = now;
    return set;
}

std::vector<std::uint64_t> seqs_of(const fogbridge::lease& l) {
    std::vector<std::uint64_t> out;
    for (const auto& sr : l.readings) {
        out.push_back(sr.r.seq);
    }
    return out;
}

gap_record gap(drop_reason reason, runs dropped, double created, const std::string& device = "d1",
               std::uint64_t boot = 7) {
    gap_record g;
    g.device = device;
    g.boot = boot;
    g.reason = reason;
    g.first = dropped.front().first;
    g.last = dropped.back().last;
    for (const seq_run& r : dropped) {
        g.count += r.last - r.first + 1;
    }
    g.first_ts = 1000.0 + static_cast<double>(g.first);
    g.last_ts = 1000.0 + static_cast<double>(g.last);
    g.created = created;
    g.dropped = std::move(dropped);
    return g;
}

std::vector<gap_record> all_gaps(store& s, double now = 500.0) {
    std::vector<gap_record> out;
    while (const auto l = s.lease_gaps(100, now)) {
        out.insert(out.end(), l->records.begin(), l->records.end());
        CHECK(s.ack_gaps(l->gap_id));
    }
    return out;
}

constexpr std::size_t no_byte_limit = 1'000'000;
const std::size_t reading_size = fogbridge::encoded_size(rd(1));

}  // namespace

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
