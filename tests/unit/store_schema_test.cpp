// Schema versions of the store: files of versions 1, 2 and 3 are upgraded in place to version 4
// (integer device ids in `readings`, the per-device index, the board-clock mark) keeping every
// reading, lease, batch_id and gap record; the board-clock mark goes through commit, lease and a
// restart; and the multi-row insert counts duplicates and bytes exactly.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "old_schema.hpp"
#include "scratch_dir.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::gap_lease;
using fogbridge::lease;
using fogbridge::lease_lane;
using fogbridge::reading;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-schema") {}

    store_settings settings() const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / "store.db";
        out.synchronous = fogbridge::sync_mode::normal;
        return out;
    }
};

reading rd(const std::string& device, std::uint64_t seq) {
    return {device,
            "temperature",
            1.5 + static_cast<double>(seq),
            "C",
            1000.0 + static_cast<double>(seq),
            7,
            seq};
}

commit_set group(const std::string& device, std::uint64_t from, std::uint64_t to, double now) {
    commit_set set;
    for (std::uint64_t s = from; s <= to; ++s) {
        set.readings.push_back(rd(device, s));
    }
    set.progress.push_back({device, 7, to});
    set.now = now;
    return set;
}

constexpr std::size_t no_byte_limit = 1'000'000;

void make_version_2(const store_settings& settings) { ::make_version_2(settings.path); }
void make_version_1(const store_settings& settings) { ::make_version_1(settings.path); }
void make_version_3(const store_settings& settings) { ::make_version_3(settings.path); }

std::string column_type(const store_settings& settings, const std::string& column) {
    fogbridge::sqlite::database db(settings.path);
    fogbridge::sqlite::statement s(db,
                                   "SELECT type FROM pragma_table_info('readings') "
                                   "WHERE name = ?1");
    s.bind_text(1, column);
    return s.step() ? std::string(s.column_text(0)) : std::string();
}

// A store with a bit of everything: acknowledged, leased and pending readings of three devices,
// a backlog, gap records of dropped readings (one leased, one not), and filter state.
void fill(store& s) {
    s.commit(group("d1", 1, 6, 10.0));
    s.commit(group("d2", 1, 4, 11.0));
    const auto acked = s.lease_batch(3, no_byte_limit, 12.0);
    REQUIRE(acked);
    CHECK(s.ack_batch(acked->batch_id));
    REQUIRE(s.lease_batch(4, no_byte_limit, 13.0));  // stays leased
    CHECK(s.start_backlog() == 3);
    s.commit(group("d2", 5, 7, 13.5));          // over max_rows: drops the oldest pending ones
    commit_set more = group("d3", 1, 1, 14.0);  // d2 is over its share: it drops one more
    more.filter_states.push_back({"d3", "temperature", R"({"last":6.5})"});
    s.commit(more);
    REQUIRE(s.lease_gaps(1, 15.0));  // stays leased
    s.commit(group("d1", 7, 9, 16.0));
}

struct snapshot {
    std::vector<lease> batches;
    std::vector<gap_lease> gaps;
    std::vector<fogbridge::progress_update> progress;
    std::vector<fogbridge::filter_state_row> filter_states;
    fogbridge::queue_stats stats;
};

snapshot take(store& s) {
    return {s.leased_batches(), s.leased_gaps(), s.load_progress(), s.load_filter_states(),
            s.stats()};
}

void check_same(const snapshot& a, const snapshot& b) {
    CHECK(a.batches == b.batches);
    CHECK(a.gaps == b.gaps);
    CHECK(a.progress == b.progress);
    CHECK(a.filter_states == b.filter_states);
    CHECK(a.stats.pending_readings == b.stats.pending_readings);
    CHECK(a.stats.pending_bytes == b.stats.pending_bytes);
    CHECK(a.stats.backlog_readings == b.stats.backlog_readings);
    CHECK(a.stats.leased_readings == b.stats.leased_readings);
    CHECK(a.stats.leased_batches == b.stats.leased_batches);
    CHECK(a.stats.gap_records == b.stats.gap_records);
    CHECK(a.stats.leased_gap_messages == b.stats.leased_gap_messages);
    CHECK(a.stats.drops_total == b.stats.drops_total);
    CHECK(a.stats.oldest_pending == b.stats.oldest_pending);
}

// Everything the store hands out from now on, until it is empty.
std::vector<lease> drain(store& s) {
    std::vector<lease> out;
    for (const lease& l : s.leased_batches()) {
        CHECK(s.ack_batch(l.batch_id));
        out.push_back(l);
    }
    for (const lease_lane lane : {lease_lane::backlog, lease_lane::live}) {
        while (auto l = s.lease_batch(2, no_byte_limit, 20.0, lane)) {
            CHECK(s.ack_batch(l->batch_id));
            out.push_back(std::move(*l));
        }
    }
    return out;
}

void check_upgrade(void (*make_old)(const store_settings&), const char* old_device_type = "TEXT") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 10;
    snapshot before;
    std::string epoch;
    {
        store s(settings);
        fill(s);
        before = take(s);
        epoch = s.epoch();
        CHECK(before.stats.gap_records >= 1);
        CHECK(before.stats.leased_gap_messages == 1);
    }
    make_old(settings);
    CHECK(column_type(settings, "device") == old_device_type);
    CHECK(column_type(settings, "ts_gw").empty());

    store s(settings);
    CHECK(column_type(settings, "device") == "INTEGER");
    CHECK(column_type(settings, "ts_gw") == "INTEGER");
    CHECK(s.epoch() == epoch);
    check_same(take(s), before);

    // It goes on as a store that was never upgraded: a re-send of a held reading is still a
    // duplicate, a new device gets its own id, and the same drain follows.
    const temp_dir control_dir;
    auto control_settings = control_dir.settings();
    control_settings.max_rows = settings.max_rows;
    store control(control_settings);
    fill(control);
    for (store* each : {&s, &control}) {
        const auto r = each->commit(group("d1", 8, 10, 17.0));
        CHECK(r.inserted == 1);
        CHECK(r.duplicates == 2);
        CHECK(each->commit(group("d4", 1, 2, 18.0)).inserted == 2);
    }
    const auto strip = [](std::vector<lease> ls, const std::string& e) {
        for (lease& l : ls) {
            CHECK(l.batch_id.starts_with(e + "-"));
            l.batch_id.erase(0, e.size());
        }
        return ls;
    };
    const auto upgraded = strip(drain(s), epoch);
    CHECK(upgraded == strip(drain(control), control.epoch()));
    CHECK(upgraded.size() >= 4);
    CHECK(s.stats().held_readings == 0);
}

}  // namespace

TEST_CASE("schema: a store of version 3 is upgraded in place, keeping leases and gaps") {
    check_upgrade(make_version_3, "INTEGER");
}

TEST_CASE("schema: the board-clock mark goes through commit, lease, and a restart") {
    const temp_dir dir;
    commit_set set = group("d1", 1, 4, 10.0);
    set.readings[1].ts_from_gateway = true;
    set.readings[3].ts_from_gateway = true;
    const auto marks = [](const lease& l) {
        std::vector<bool> out;
        for (const auto& sr : l.readings) {
            out.push_back(sr.r.ts_from_gateway);
        }
        return out;
    };
    const std::vector<bool> want{false, true, false, true};
    {
        store s(dir.settings());
        s.commit(set);
        const auto l = s.lease_batch(10, no_byte_limit, 11.0);
        REQUIRE(l);
        CHECK(marks(*l) == want);
        std::size_t bytes = 0;
        for (const reading& r : set.readings) {
            bytes += fogbridge::encoded_size(r);  // with "ts_src":"gw" where marked
        }
        CHECK(s.stats().leased_bytes == bytes);
    }
    store s(dir.settings());
    const auto again = s.leased_batches();
    REQUIRE(again.size() == 1);
    CHECK(marks(again[0]) == want);
}

TEST_CASE("schema: a store of version 2 is upgraded in place, keeping leases and gaps") {
    check_upgrade(make_version_2);
}

TEST_CASE("schema: a store of version 1 is upgraded in place, keeping leases and gaps") {
    check_upgrade(make_version_1);
}

TEST_CASE("schema: a version 1 lease keeps its id and readings; its backlog drains as replay") {
    const temp_dir dir;
    std::vector<lease> before;
    {
        store s(dir.settings());
        s.commit(group("d1", 1, 4, 10.0));
        before.push_back(*s.lease_batch(2, no_byte_limit, 11.0));
    }
    make_version_1(dir.settings());
    store s(dir.settings());
    CHECK(s.leased_batches() == before);
    CHECK(s.stats().pending_readings == 2);
    CHECK(s.start_backlog() == 2);
    const auto l = s.lease_batch(10, no_byte_limit, 12.0, lease_lane::backlog);
    REQUIRE(l);
    REQUIRE(l->readings.size() == 2);
    CHECK(l->readings[0].r == rd("d1", 3));
    CHECK(l->readings[1].r == rd("d1", 4));
    CHECK(l->replay);
}

TEST_CASE("schema: a multi-row insert counts duplicates and bytes exactly") {
    const temp_dir dir;
    store s(dir.settings());
    // 150 readings: more than two full chunks, then a power-of-two tail.
    CHECK(s.commit(group("d1", 1, 150, 10.0)).inserted == 150);
    commit_set set;
    set.now = 11.0;
    std::size_t new_bytes = 0;
    for (std::uint64_t seq = 100; seq <= 300; ++seq) {
        set.readings.push_back(rd("d1", seq));
        if (seq > 150) {
            new_bytes += fogbridge::encoded_size(rd("d1", seq));
        }
        if (seq % 7 == 0) {
            set.readings.push_back(rd("d1", seq));  // twice in the same commit
        }
        if (seq % 5 == 0) {
            set.readings.push_back(rd("d2", seq));  // another device in between
            new_bytes += fogbridge::encoded_size(rd("d2", seq));
        }
    }
    const std::size_t d2 = 41;     // 100..300 in steps of 5
    const std::size_t twice = 28;  // 105..294 in steps of 7
    const auto before = s.stats();
    const auto r = s.commit(set);
    CHECK(r.inserted == 150 + d2);
    CHECK(r.duplicates == 51 + twice);
    CHECK(r.inserted + r.duplicates == set.readings.size());
    CHECK(s.stats().pending_bytes == before.pending_bytes + new_bytes);

    // Every reading comes out once, in commit order, with its device.
    std::size_t d1_seen = 0;
    std::size_t d2_seen = 0;
    std::uint64_t last_d1 = 0;
    while (const auto l = s.lease_batch(64, no_byte_limit, 12.0)) {
        for (const auto& sr : l->readings) {
            if (sr.r.device == "d1") {
                CHECK(sr.r == rd("d1", sr.r.seq));
                CHECK(sr.r.seq == last_d1 + 1);
                last_d1 = sr.r.seq;
                ++d1_seen;
            } else {
                CHECK(sr.r == rd("d2", sr.r.seq));
                ++d2_seen;
            }
        }
        CHECK(s.ack_batch(l->batch_id));
    }
    CHECK(d1_seen == 300);
    CHECK(d2_seen == d2);
}

TEST_CASE("schema: a refused commit that named a new device leaves no trace of it") {
    const temp_dir dir;
    auto settings = dir.settings();
    settings.max_rows = 3;
    settings.policy = fogbridge::store_policy::reject_new;
    {
        store s(settings);
        CHECK(s.commit(group("d1", 1, 3, 10.0)).inserted == 3);
        CHECK_THROWS_AS(s.commit(group("d2", 1, 2, 11.0)), fogbridge::store_error);
        const auto l = s.lease_batch(10, no_byte_limit, 12.0);
        REQUIRE(l);
        CHECK(s.ack_batch(l->batch_id));
        // d3 takes the id the refused d2 would have had; d2 then gets the next one.
        CHECK(s.commit(group("d3", 1, 1, 13.0)).inserted == 1);
        CHECK(s.commit(group("d2", 1, 2, 14.0)).inserted == 2);
    }
    store s(settings);  // the names come back from the file
    const auto l = s.lease_batch(10, no_byte_limit, 15.0);
    REQUIRE(l);
    REQUIRE(l->readings.size() == 3);
    CHECK(l->readings[0].r == rd("d3", 1));
    CHECK(l->readings[1].r == rd("d2", 1));
    CHECK(l->readings[2].r == rd("d2", 2));
}
