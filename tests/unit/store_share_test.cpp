// The per-board share of a full store under drop_oldest: a board over its share loses its own
// oldest pending readings first (as gap records), boards within their share lose nothing while a
// board is over its share (but for the free-space floor); the per-board counts follow acks and
// reopening.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::drop_reason;
using fogbridge::gap_record;
using fogbridge::reading;
using fogbridge::seq_run;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-share") {}

    store_settings settings(std::uint64_t max_rows, std::uint64_t max_bytes = 0) const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / "store.db";
        out.synchronous = fogbridge::sync_mode::normal;
        out.max_rows = max_rows;
        out.max_bytes = max_bytes;
        return out;
    }
};

reading rd(const std::string& device, std::uint64_t seq) {
    return {device, "temperature", 1.5, "C", 1000.0 + static_cast<double>(seq), 7, seq};
}

// Readings first..last of device/7, processed up to last, committed at `now`.
commit_set group(const std::string& device, std::uint64_t first, std::uint64_t last, double now) {
    commit_set set;
    for (std::uint64_t s = first; s <= last; ++s) {
        set.readings.push_back(rd(device, s));
    }
    set.progress.push_back({device, 7, last});
    set.now = now;
    return set;
}

constexpr std::size_t no_byte_limit = 1'000'000;

// Seqs of every pending reading, per device (leases and acknowledges them all).
std::map<std::string, std::vector<std::uint64_t>> drain(store& s) {
    std::map<std::string, std::vector<std::uint64_t>> out;
    while (const auto l = s.lease_batch(1000, no_byte_limit, 100.0)) {
        for (const auto& sr : l->readings) {
            out[sr.r.device].push_back(sr.r.seq);
        }
        CHECK(s.ack_batch(l->batch_id));
    }
    return out;
}

std::vector<gap_record> all_gaps(store& s) {
    std::vector<gap_record> out;
    while (const auto l = s.lease_gaps(100, 100.0)) {
        out.insert(out.end(), l->records.begin(), l->records.end());
        CHECK(s.ack_gaps(l->gap_id));
    }
    return out;
}

std::vector<std::uint64_t> seqs(std::uint64_t first, std::uint64_t last) {
    std::vector<std::uint64_t> out;
    for (std::uint64_t s = first; s <= last; ++s) {
        out.push_back(s);
    }
    return out;
}

// The devices and dropped runs of the gap records.
std::vector<std::pair<std::string, std::vector<seq_run>>> dropped_runs(store& s) {
    std::vector<std::pair<std::string, std::vector<seq_run>>> out;
    for (const gap_record& g : all_gaps(s)) {
        out.emplace_back(g.device, g.dropped);
    }
    return out;
}

using runs_of = std::vector<std::pair<std::string, std::vector<seq_run>>>;

}  // namespace

TEST_CASE("share: a board over its share loses its own oldest readings; the others nothing") {
    const temp_dir dir;
    store s(dir.settings(10));
    s.commit(group("honest-1", 1, 1, 10.0));  // the oldest readings of the store
    s.commit(group("honest-2", 1, 1, 10.0));
    s.commit(group("flood", 1, 8, 11.0));
    const auto r = s.commit(group("flood", 9, 11, 12.0));
    CHECK(r.dropped == 3);
    CHECK(s.stats().held_readings == 10);
    CHECK(s.stats().drops.store_full_rows == 3);
    CHECK(dropped_runs(s) == runs_of{{"flood", {{1, 3}}}});
    const auto held = drain(s);
    CHECK(held.at("honest-1") == seqs(1, 1));
    CHECK(held.at("honest-2") == seqs(1, 1));
    CHECK(held.at("flood") == seqs(4, 11));
}

TEST_CASE("share: a board within its share that commits makes the over-share board pay") {
    const temp_dir dir;
    store s(dir.settings(10));
    s.commit(group("honest", 1, 1, 10.0));
    s.commit(group("flood", 1, 9, 11.0));
    CHECK(s.commit(group("honest", 2, 3, 12.0)).dropped == 2);
    CHECK(dropped_runs(s) == runs_of{{"flood", {{1, 2}}}});
    const auto held = drain(s);
    CHECK(held.at("honest") == seqs(1, 3));
    CHECK(held.at("flood") == seqs(3, 9));
}

TEST_CASE("share: the largest board goes down to its share first, then the next one over it") {
    const temp_dir dir;
    store s(dir.settings(21));
    s.commit(group("small", 1, 2, 10.0));
    s.commit(group("big", 1, 9, 11.0));
    s.commit(group("bigger", 1, 10, 12.0));
    // 24 held by 3 boards: the share is 8; "bigger" gives up 2, then "big" 1.
    CHECK(s.commit(group("small", 3, 5, 13.0)).dropped == 3);
    CHECK(dropped_runs(s) == runs_of{{"big", {{1, 1}}}, {"bigger", {{1, 2}}}});
    const auto held = drain(s);
    CHECK(held.at("small") == seqs(1, 5));
    CHECK(held.at("big") == seqs(2, 9));
    CHECK(held.at("bigger") == seqs(3, 10));
}

TEST_CASE("share: a board over its share with no older pending reading: the others keep theirs") {
    const temp_dir dir;
    store s(dir.settings(20));
    s.commit(group("small", 1, 2, 10.0));
    s.commit(group("big", 1, 10, 11.0));
    s.commit(group("bigger", 1, 8, 12.0));
    // 32 held by 3: "bigger" holds 20, but only 8 stored before this commit. The store goes over
    // max_rows by this commit; the next one takes the room back from "bigger".
    CHECK(s.commit(group("bigger", 9, 20, 13.0)).dropped == 8);
    CHECK(s.stats().held_readings == 24);
    CHECK(s.commit(group("small", 3, 3, 14.0)).dropped == 5);
    CHECK(s.stats().held_readings == 20);
    // 25 held by 3: the share is 8; "bigger" gives up 4, "big" 1.
    CHECK(dropped_runs(s) == runs_of{{"bigger", {{1, 12}}}, {"big", {{1, 1}}}});
    const auto held = drain(s);
    CHECK(held.at("small") == seqs(1, 3));
    CHECK(held.at("big") == seqs(2, 10));
}

TEST_CASE("share: an over-share board holding only leased readings: the others keep theirs") {
    const temp_dir dir;
    store s(dir.settings(10));
    s.commit(group("flood", 1, 8, 10.0));
    const auto leased = s.lease_batch(100, no_byte_limit, 11.0);
    REQUIRE(leased);
    s.commit(group("honest", 1, 2, 12.0));
    CHECK(s.commit(group("honest", 3, 3, 13.0)).dropped == 0);  // over until acknowledged
    CHECK(s.stats().held_readings == 11);
    CHECK(s.ack_batch(leased->batch_id));
    CHECK(all_gaps(s).empty());
    CHECK(drain(s).at("honest") == seqs(1, 3));
}

TEST_CASE("share: low disk space takes the oldest of all when the over-share board has none") {
    const temp_dir dir;
    auto settings = dir.settings(0);
    bool low = false;
    settings.min_free_bytes = 1000;
    settings.disk_check_interval_s = 0;
    settings.disk_free = [&low]() -> std::optional<std::uint64_t> { return low ? 10 : 1'000'000; };
    store s(settings);
    s.commit(group("honest", 1, 2, 10.0));
    s.commit(group("flood", 1, 8, 11.0));
    REQUIRE(s.lease_batch(100, no_byte_limit, 12.0));  // everything so far is leased
    s.commit(group("honest", 3, 4, 13.0));
    low = true;
    CHECK(s.commit(group("flood", 9, 9, 14.0)).dropped == 1);
    const auto gaps = all_gaps(s);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].device == "honest");
    CHECK(gaps[0].reason == drop_reason::disk_low);
}

TEST_CASE("share: by bytes, a board of larger readings is over its share") {
    const temp_dir dir;
    const std::size_t size = fogbridge::encoded_size(rd("flood", 1));
    store s(dir.settings(0, 10 * size + 10));  // the honest readings are 1 byte larger
    s.commit(group("honest", 1, 2, 10.0));
    s.commit(group("flood", 1, 8, 11.0));
    CHECK(s.commit(group("flood", 9, 10, 12.0)).dropped == 2);
    const auto gaps = all_gaps(s);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].device == "flood");
    CHECK(gaps[0].reason == drop_reason::store_full_bytes);
    CHECK(drain(s).at("honest") == seqs(1, 2));
}

TEST_CASE("share: the per-board counts follow acknowledgements and reopening") {
    const temp_dir dir;
    bool reopen = false;
    SUBCASE("open") {}
    SUBCASE("reopened") { reopen = true; }
    std::optional<store> s(std::in_place, dir.settings(10));
    s->commit(group("a", 1, 8, 10.0));
    CHECK(drain(*s).at("a") == seqs(1, 8));  // acknowledged: "a" holds nothing any more
    s->commit(group("b", 1, 6, 11.0));
    s->commit(group("a", 9, 12, 12.0));
    if (reopen) {
        s.reset();
        s.emplace(dir.settings(10));
    }
    // "b" holds 7 of 11: over its share (5), it pays, although "a" stored more in all.
    CHECK(s->commit(group("b", 7, 7, 13.0)).dropped == 1);
    CHECK(dropped_runs(*s) == runs_of{{"b", {{1, 1}}}});
    const auto held = drain(*s);
    CHECK(held.at("a") == seqs(9, 12));
    CHECK(held.at("b") == seqs(2, 7));
}
