// The two lanes of the store: after start_backlog, what was stored before drains as replay
// batches beside the live ones; no reading is leased twice, leased ones are never dropped, and
// everything survives a restart with the same batch ids.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/lanes.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::drop_reason;
using fogbridge::id_range;
using fogbridge::lane_marks;
using fogbridge::lease;
using fogbridge::lease_lane;
using fogbridge::reading;
using fogbridge::seq_range;
using fogbridge::store;
using fogbridge::store_settings;
using ranges = std::vector<seq_range>;
using seqs = std::vector<std::uint64_t>;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-lanes") {}

    store_settings settings() const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / "store.db";
        out.synchronous = fogbridge::sync_mode::normal;
        return out;
    }
};

reading rd(std::uint64_t seq, const std::string& device = "d1") {
    return {device, "temperature", 1.5, "C", 1000.0 + static_cast<double>(seq), 7, seq};
}

// Readings `from`..`to` of d1/7, processed up to `to`, committed at `now`.
commit_set run_of(std::uint64_t from, std::uint64_t to, double now) {
    commit_set set;
    for (std::uint64_t s = from; s <= to; ++s) {
        set.readings.push_back(rd(s));
    }
    set.progress.push_back({"d1", 7, to});
    set.now = now;
    return set;
}

seqs seqs_of(const lease& l) {
    seqs out;
    for (const auto& sr : l.readings) {
        out.push_back(sr.r.seq);
    }
    return out;
}

constexpr std::size_t no_byte_limit = 1'000'000;

}  // namespace

TEST_CASE("lanes: pending ids and the spans between leased batches") {
    lane_marks m;
    m.leased_upto = 10;
    m.backlog_end = 30;
    m.add({21, 25});
    m.add({12, 14});
    m.add({1, 0});  // a batch without readings
    CHECK(m.leased == std::vector<id_range>{{12, 14}, {21, 25}});
    CHECK_FALSE(m.pending(10));
    CHECK(m.pending(11));
    CHECK_FALSE(m.pending(12));
    CHECK_FALSE(m.pending(14));
    CHECK(m.pending(15));
    CHECK_FALSE(m.pending(23));
    CHECK(m.pending(26));
    const auto spans = m.pending_spans({.lo = m.leased_upto, .hi = 40});
    REQUIRE(spans.size() == 3);
    CHECK((spans[0].lo == 10 && spans[0].hi == 11));
    CHECK((spans[1].lo == 14 && spans[1].hi == 20));
    CHECK((spans[2].lo == 25 && spans[2].hi == 40));
    const auto live = m.pending_spans({.lo = m.backlog_end, .hi = 40});
    REQUIRE(live.size() == 1);
    CHECK((live[0].lo == 30 && live[0].hi == 40));
    m.remove({12, 14});
    CHECK(m.pending(13));
}

TEST_CASE("lanes: after start_backlog, live readings are leased first and the backlog is replay") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(run_of(1, 5, 10.0));
    CHECK(s.start_backlog() == 5);
    s.commit(run_of(6, 8, 20.0));
    auto st = s.stats();
    CHECK(st.pending_readings == 8);
    CHECK(st.backlog_readings == 5);
    CHECK(st.oldest_pending == 10.0);
    CHECK(st.oldest_live == 20.0);

    const auto live = s.lease_batch(10, no_byte_limit, 30.0, lease_lane::live);
    REQUIRE(live);
    CHECK_FALSE(live->replay);
    CHECK(seqs_of(*live) == seqs{6, 7, 8});
    CHECK(live->ranges == ranges{{"d1", 7, 6, 8}});  // carried only: 1..5 are still pending
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 30.0, lease_lane::live));

    const auto replay = s.lease_batch(3, no_byte_limit, 31.0, lease_lane::backlog);
    REQUIRE(replay);
    CHECK(replay->replay);
    CHECK(seqs_of(*replay) == seqs{1, 2, 3});
    CHECK(replay->ranges == ranges{{"d1", 7, 1, 3}});
    const auto rest = s.lease_batch(10, no_byte_limit, 32.0, lease_lane::backlog);
    REQUIRE(rest);
    CHECK(seqs_of(*rest) == seqs{4, 5});
    CHECK(rest->ranges == ranges{{"d1", 7, 4, 5}});  // 6..8 were reported by the live batch
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 33.0, lease_lane::backlog));
    st = s.stats();
    CHECK(st.pending_readings == 0);
    CHECK(st.backlog_readings == 0);
    CHECK(st.leased_readings == 8);
    CHECK_FALSE(st.uncovered);

    // The backlog is gone: one lane again, in id order.
    s.commit(run_of(9, 10, 40.0));
    CHECK(seqs_of(*s.lease_batch(1, no_byte_limit, 41.0)) == seqs{9});
    CHECK(seqs_of(*s.lease_batch(1, no_byte_limit, 41.0)) == seqs{10});
}

TEST_CASE("lanes: filtered seqs between live readings are reported once the backlog passes them") {
    const temp_dir dir;
    store s(dir.settings());
    auto old = run_of(1, 1, 10.0);
    old.readings.push_back(rd(5));
    old.progress = {{"d1", 7, 10}};  // 2..4 and 6..10 filtered
    s.commit(old);
    s.start_backlog();
    auto fresh = run_of(12, 12, 20.0);
    fresh.readings.push_back(rd(18));
    fresh.progress = {{"d1", 7, 20}};
    s.commit(fresh);

    const auto live = s.lease_batch(10, no_byte_limit, 30.0, lease_lane::live);
    REQUIRE(live);
    CHECK(live->ranges == ranges{{"d1", 7, 12, 12}, {"d1", 7, 18, 18}});
    CHECK(s.stats().uncovered);
    const auto replay = s.lease_batch(10, no_byte_limit, 31.0, lease_lane::backlog);
    REQUIRE(replay);
    CHECK(seqs_of(*replay) == seqs{1, 5});
    CHECK(replay->ranges == ranges{{"d1", 7, 1, 11}, {"d1", 7, 13, 17}, {"d1", 7, 19, 20}});
    CHECK_FALSE(s.stats().uncovered);
}

TEST_CASE("lanes: a reconnect during a drain adds what is pending to the backlog") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(run_of(1, 4, 10.0));
    s.start_backlog();
    s.commit(run_of(5, 6, 11.0));
    const auto live = s.lease_batch(10, no_byte_limit, 12.0, lease_lane::live);  // 5, 6 in flight
    REQUIRE(live);
    s.commit(run_of(7, 8, 13.0));
    CHECK(s.start_backlog() == 6);  // 1..4 and 7..8; 5..6 stay leased
    s.commit(run_of(9, 9, 14.0));
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 15.0, lease_lane::live)) == seqs{9});
    // A batch is one id range without readings of another batch: the backlog skips 5..6.
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 16.0, lease_lane::backlog)) ==
          seqs{1, 2, 3, 4});
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 16.0, lease_lane::backlog)) == seqs{7, 8});
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 16.0, lease_lane::backlog));
    CHECK(s.stats().pending_readings == 0);
}

TEST_CASE("lanes: leased batches, lanes and counters survive a restart with the same ids") {
    const temp_dir dir;
    std::vector<lease> before;
    fogbridge::queue_stats stats_before;
    {
        store s(dir.settings());
        s.commit(run_of(1, 6, 10.0));
        s.start_backlog();
        s.commit(run_of(7, 9, 20.0));
        before.push_back(*s.lease_batch(2, no_byte_limit, 30.0, lease_lane::live));
        before.push_back(*s.lease_batch(2, no_byte_limit, 31.0, lease_lane::backlog));
        CHECK(s.leased_batches() == before);
        stats_before = s.stats();
    }
    store s(dir.settings());
    CHECK(s.leased_batches() == before);
    CHECK(s.leased_batches()[1].replay);
    const auto st = s.stats();
    CHECK(st.pending_readings == stats_before.pending_readings);
    CHECK(st.pending_bytes == stats_before.pending_bytes);
    CHECK(st.backlog_readings == stats_before.backlog_readings);
    CHECK(st.backlog_bytes == stats_before.backlog_bytes);
    CHECK(st.leased_readings == stats_before.leased_readings);
    CHECK(st.oldest_pending == stats_before.oldest_pending);
    CHECK(st.oldest_live == stats_before.oldest_live);
    CHECK(st.backlog_readings == 4);
    // Nothing leased before is leased again under a new id.
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 40.0, lease_lane::live)) == seqs{9});
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 40.0, lease_lane::backlog)) ==
          seqs{3, 4, 5, 6});
}

TEST_CASE("lanes: drop_oldest drops the backlog first and never a leased live reading") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 6;
    store s(settings);
    s.commit(run_of(1, 3, 10.0));
    s.start_backlog();
    s.commit(run_of(4, 6, 11.0));
    const auto live = s.lease_batch(10, no_byte_limit, 12.0, lease_lane::live);
    REQUIRE(live);
    CHECK(seqs_of(*live) == seqs{4, 5, 6});
    // Two more: the two oldest pending readings go, both backlog.
    CHECK(s.commit(run_of(7, 8, 13.0)).dropped == 2);
    auto st = s.stats();
    CHECK(st.backlog_readings == 1);
    CHECK(st.leased_readings == 3);
    // Four more: the last backlog reading, then the pending live ones 7 and 8; 4..6 stay leased,
    // and only they and this commit keep the store over the limit.
    CHECK(s.commit(run_of(9, 12, 14.0)).dropped == 3);
    st = s.stats();
    CHECK(st.backlog_readings == 0);
    CHECK(st.leased_readings == 3);
    CHECK(st.held_readings == 7);
    CHECK(s.leased_batches() == std::vector<lease>{*live});
    CHECK(st.drops.store_full_rows == 5);
    const auto next = s.lease_batch(10, no_byte_limit, 15.0, lease_lane::live);
    REQUIRE(next);
    CHECK(seqs_of(*next) == seqs{9, 10, 11, 12});
}

TEST_CASE("lanes: TTL expires the backlog before live readings, never leased ones") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.ttl_s = 100;
    store s(settings);
    s.commit(run_of(1, 2, 10.0));
    s.start_backlog();
    s.commit(run_of(3, 4, 20.0));
    s.commit(run_of(5, 5, 200.0));
    REQUIRE(s.lease_batch(1, no_byte_limit, 21.0, lease_lane::live));  // 3 in flight
    CHECK(s.expire(125.0) == 3);  // 1, 2 (backlog) and 4; not 3 (leased) nor 5 (young)
    const auto st = s.stats();
    CHECK(st.backlog_readings == 0);
    CHECK(st.pending_readings == 1);
    CHECK(st.oldest_pending == 200.0);
    CHECK(st.oldest_live == 200.0);
    CHECK(st.drops.ttl == 3);
}

TEST_CASE("lanes: no reading is leased twice, and all are leased, in any interleaving") {
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        CAPTURE(seed);
        const temp_dir dir;
        std::mt19937_64 gen(seed);
        const auto chance = [&](double p) {
            return std::uniform_real_distribution<double>(0, 1)(gen) < p;
        };
        auto s = std::make_unique<store>(dir.settings());
        std::map<std::uint64_t, std::string> leased_by;  // seq -> batch id
        std::set<std::string> acked;
        std::uint64_t next = 1;
        const auto take = [&](const std::optional<lease>& l) {
            if (!l) {
                return;
            }
            for (const auto& sr : l->readings) {
                CHECK(leased_by.emplace(sr.r.seq, l->batch_id).second);
            }
            if (chance(0.5)) {
                CHECK(s->ack_batch(l->batch_id));
                acked.insert(l->batch_id);
            }
        };
        for (int step = 0; step < 150; ++step) {
            if (chance(0.5)) {
                const std::uint64_t n = 1 + gen() % 4;
                s->commit(run_of(next, next + n - 1, step));
                next += n;
            }
            if (chance(0.1)) {
                s->start_backlog();
            }
            if (chance(0.05)) {
                s.reset();
                s = std::make_unique<store>(dir.settings());
            }
            const auto lane = chance(0.5) ? lease_lane::live : lease_lane::backlog;
            take(s->lease_batch(1 + gen() % 3, no_byte_limit, step, lane));
        }
        for (;;) {
            const auto l = s->lease_batch(5, no_byte_limit, 1000.0, lease_lane::backlog);
            const auto m = s->lease_batch(5, no_byte_limit, 1000.0, lease_lane::live);
            if (!l && !m) {
                break;
            }
            take(l);
            take(m);
        }
        CHECK(leased_by.size() == next - 1);
        const auto st = s->stats();
        CHECK(st.pending_readings == 0);
        CHECK(st.backlog_readings == 0);
        // What is still leased is exactly what was leased and not acknowledged.
        std::size_t unacked = 0;
        for (const auto& [seq, id] : leased_by) {
            unacked += acked.contains(id) ? 0 : 1;
        }
        CHECK(st.leased_readings == unacked);
    }
}
