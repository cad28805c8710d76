// What a crash or a power loss leaves of the store's queue: a lease is durable before its batch
// is sent, so a store reopened from the files as they were (a crash) re-sends it with the same
// batch_id and readings; an acknowledgement does not wait for the disk, and losing it only re-sends
// an acknowledged batch, identical, never loses one.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using fogbridge::commit_set;
using fogbridge::lease;
using fogbridge::reading;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-durability") {}

    // synchronous=FULL, the default.
    store_settings settings(const std::string& name = "store.db") const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / name;
        return out;
    }
};

reading rd(const std::string& device, std::uint64_t seq) {
    return {device, "temperature", 2.5, "C", 1000.0 + static_cast<double>(seq), 3, seq};
}

commit_set group(std::uint64_t from, std::uint64_t to, double now) {
    commit_set set;
    for (std::uint64_t s = from; s <= to; ++s) {
        set.readings.push_back(rd(s % 2 == 0 ? "even" : "odd", s));
    }
    set.progress.push_back({"odd", 3, to});
    set.progress.push_back({"even", 3, to});
    set.now = now;
    return set;
}

constexpr std::size_t no_byte_limit = 1'000'000;

// The store's files (database and WAL) as they are now: what a crash of the process leaves.
void copy_files(const fs::path& from, const fs::path& to) {
    for (const char* suffix : {"", "-wal"}) {
        const fs::path source = from.string() + suffix;
        const fs::path target = to.string() + suffix;
        fs::remove(target);
        if (fs::exists(source)) {
            fs::copy_file(source, target);
        }
    }
    fs::remove(to.string() + "-shm");
}

std::vector<std::uint64_t> seqs_of(const lease& l) {
    std::vector<std::uint64_t> out;
    for (const auto& sr : l.readings) {
        out.push_back(sr.r.seq);
    }
    return out;
}

}  // namespace

TEST_CASE("durability: after a crash a leased, unacknowledged batch comes back identical") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(group(1, 10, 50.0));
    const auto sent = s.lease_batch(4, no_byte_limit, 51.0);
    REQUIRE(sent);
    copy_files(dir.settings().path, dir.settings("crashed.db").path);  // crash after the send

    store after(dir.settings("crashed.db"));
    CHECK(after.epoch() == s.epoch());
    const auto leased = after.leased_batches();
    REQUIRE(leased.size() == 1);
    CHECK(leased[0] == *sent);  // same batch_id, same readings, same ranges
    // The next batch gets a new id and only readings no batch carried.
    const auto next = after.lease_batch(100, no_byte_limit, 52.0);
    REQUIRE(next);
    CHECK(next->batch_id != sent->batch_id);
    CHECK(seqs_of(*next) == std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10});
    CHECK(after.stats().pending_readings == 0);
}

TEST_CASE("durability: an acknowledgement lost to a power loss re-sends the same batch") {
    const temp_dir dir;
    const auto power_lost = dir.settings("power-lost.db");
    lease first;
    lease second;
    {
        store s(dir.settings());
        s.commit(group(1, 10, 50.0));
        first = *s.lease_batch(4, no_byte_limit, 51.0);
        second = *s.lease_batch(4, no_byte_limit, 52.0);
        // The leases are durable (synced) when lease_batch returns; the acknowledgement below is
        // not: a power loss now may leave the files as they are here.
        copy_files(dir.settings().path, power_lost.path);
        CHECK(s.ack_batch(first.batch_id));
        CHECK(s.stats().leased_batches == 1);
    }
    store s(power_lost);
    const auto leased = s.leased_batches();
    REQUIRE(leased.size() == 2);
    CHECK(leased[0] == first);  // sent again: the cloud drops it by batch_id
    CHECK(leased[1] == second);
    CHECK(s.stats().leased_readings == 8);
    CHECK(s.ack_batch(first.batch_id));
    CHECK(s.ack_batch(second.batch_id));
    const auto rest = s.lease_batch(100, no_byte_limit, 53.0);
    REQUIRE(rest);
    CHECK(seqs_of(*rest) == std::vector<std::uint64_t>{9, 10});
    CHECK(rest->batch_id != first.batch_id);
    CHECK(rest->batch_id != second.batch_id);
}

TEST_CASE("durability: acknowledgements survive a crash of the process") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(group(1, 10, 50.0));
    const auto first = s.lease_batch(4, no_byte_limit, 51.0);
    REQUIRE(first);
    CHECK(s.ack_batch(first->batch_id));
    // Written to the WAL though not synced: a crash of the process (the OS keeps the file) keeps
    // it.
    copy_files(dir.settings().path, dir.settings("crashed.db").path);
    store after(dir.settings("crashed.db"));
    CHECK(after.leased_batches().empty());
    CHECK(after.stats().pending_readings == 6);
    CHECK(after.stats().held_readings == 6);
}

TEST_CASE("durability: several acknowledgements in one transaction") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(group(1, 12, 50.0));
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(s.lease_batch(4, no_byte_limit, 51.0)->batch_id);
    }
    // Unknown and repeated ids are skipped, as ack_batch answers false for them.
    CHECK(s.ack_batches({ids[2], "no-such-batch", ids[0], ids[2]}) == 2);
    auto st = s.stats();
    CHECK(st.leased_batches == 1);
    CHECK(st.leased_readings == 4);
    CHECK(s.leased_batches().front().batch_id == ids[1]);
    CHECK(s.ack_batches({}) == 0);
    CHECK(s.ack_batches({ids[0]}) == 0);
    CHECK(s.ack_batches({ids[1]}) == 1);
    st = s.stats();
    CHECK(st.held_readings == 0);
    CHECK_FALSE(st.oldest_enqueued);
}
