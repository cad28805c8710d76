#include <doctest/doctest.h>

#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "batch/batch.hpp"
#include "old_schema.hpp"
#include "ops/queue_report.hpp"
#include "scratch_dir.hpp"
#include "store/inspection.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using boot_report = fogbridge::inspected_boot;
using device_report = fogbridge::inspected_device;
using queue_report = fogbridge::store_inspection;

namespace {

class temp_dir : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-queue") {}

    fs::path db() const { return path() / "store.db"; }
};

fogbridge::reading rd(const std::string& device, std::uint64_t boot, std::uint64_t seq) {
    return {device, "temperature", 20.5, "C", 900.0 + static_cast<double>(seq), boot, seq};
}

// d1/7 holds seqs 1..3 (1 and 2 leased), d2/1 holds seq 5, d3/2 has progress and no reading.
void fill(fogbridge::store& st) {
    fogbridge::commit_set first;
    first.readings = {rd("d1", 7, 1), rd("d1", 7, 2), rd("d1", 7, 3)};
    first.progress = {{"d1", 7, 3}, {"d3", 2, 4}};
    first.now = 1000.0;
    st.commit(first);
    fogbridge::commit_set second;
    second.readings = {rd("d2", 1, 5)};
    second.progress = {{"d2", 1, 6}};
    second.now = 1010.0;
    st.commit(second);
    REQUIRE(st.lease_batch(2, 1 << 20, 1020.0).has_value());
}

void check_figures(const queue_report& r, std::size_t pending_bytes) {
    CHECK(r.schema_version >= 1);
    CHECK(r.held_readings == 4U);
    CHECK(r.pending_readings == 2U);
    CHECK(r.leased_readings == 2U);
    CHECK(r.pending_bytes == pending_bytes);
    CHECK(r.held_bytes > r.pending_bytes);
    CHECK(r.leased_batches == 1U);
    CHECK(r.oldest_enqueued == 1000.0);
    CHECK(r.newest_enqueued == 1010.0);
    CHECK(r.oldest_batch_created == 1020.0);
    REQUIRE(r.devices.size() == 3U);

    const auto& d1 = r.devices[0];
    CHECK(d1.device == "d1");
    CHECK(d1.readings == 3U);
    CHECK(d1.leased_readings == 2U);
    CHECK(d1.oldest_enqueued == 1000.0);
    REQUIRE(d1.boots.size() == 1U);
    CHECK(d1.boots[0].boot == 7U);
    CHECK(d1.boots[0].processed == 3U);
    CHECK(d1.boots[0].covered.has_value());
    CHECK(d1.boots[0].first_seq == 1U);
    CHECK(d1.boots[0].last_seq == 3U);

    const auto& d2 = r.devices[1];
    CHECK(d2.readings == 1U);
    CHECK(d2.leased_readings == 0U);
    CHECK(d2.oldest_enqueued == 1010.0);
    CHECK(d2.boots.at(0).processed == 6U);
    CHECK(d2.boots.at(0).first_seq == 5U);
    CHECK(d1.bytes + d2.bytes == r.held_bytes);

    const auto& d3 = r.devices[2];
    CHECK(d3.readings == 0U);
    CHECK(d3.bytes == 0U);
    CHECK_FALSE(d3.oldest_enqueued.has_value());
    CHECK(d3.boots.at(0).boot == 2U);
    CHECK(d3.boots.at(0).processed == 4U);
    CHECK_FALSE(d3.boots.at(0).first_seq.has_value());
}

}  // namespace

TEST_CASE("store::inspect reads a store that the gateway holds open") {
    temp_dir dir;
    fogbridge::store st({.path = dir.db(),
                         .synchronous = fogbridge::sync_mode::normal,
                         .reading_size = fogbridge::encoded_size});
    fill(st);
    check_figures(fogbridge::store::inspect(dir.db()), st.stats().pending_bytes);
}

TEST_CASE("store::inspect reads a closed store and leaves no file behind") {
    temp_dir dir;
    std::size_t pending_bytes = 0;
    {
        fogbridge::store st({.path = dir.db(),
                             .synchronous = fogbridge::sync_mode::normal,
                             .reading_size = fogbridge::encoded_size});
        fill(st);
        pending_bytes = st.stats().pending_bytes;
    }
    const auto wal = fs::path(dir.db().string() + "-wal");
    REQUIRE_FALSE(fs::exists(wal));
    const auto size = fs::file_size(dir.db());
    const auto mtime = fs::last_write_time(dir.db());
    check_figures(fogbridge::store::inspect(dir.db()), pending_bytes);
    CHECK(fs::file_size(dir.db()) == size);
    CHECK(fs::last_write_time(dir.db()) == mtime);
    CHECK_FALSE(fs::exists(wal));
    CHECK_FALSE(fs::exists(dir.db().string() + "-shm"));

    // The immutable open goes through a URI: characters special there must survive.
    const auto odd = dir.db().parent_path() / "store ?#%.db";
    fs::rename(dir.db(), odd);
    check_figures(fogbridge::store::inspect(odd), pending_bytes);
}

TEST_CASE("store::inspect tolerates extra tables and columns") {
    temp_dir dir;
    std::size_t pending_bytes = 0;
    {
        fogbridge::store st({.path = dir.db(),
                             .synchronous = fogbridge::sync_mode::normal,
                             .reading_size = fogbridge::encoded_size});
        fill(st);
        pending_bytes = st.stats().pending_bytes;
    }
    {
        fogbridge::sqlite::database db(dir.db());
        db.exec("ALTER TABLE readings ADD COLUMN expires REAL");
        db.exec("ALTER TABLE batches ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0");
        db.exec(
            "CREATE TABLE future_extra(device TEXT, boot INTEGER, first INTEGER, last INTEGER)");
        db.exec("INSERT INTO meta(key, value) VALUES('max_bytes', 1000000)");
    }
    check_figures(fogbridge::store::inspect(dir.db()), pending_bytes);
}

TEST_CASE("store::inspect reads a store of schema version 2 (device names in readings)") {
    temp_dir dir;
    std::size_t pending_bytes = 0;
    {
        fogbridge::store st({.path = dir.db(),
                             .synchronous = fogbridge::sync_mode::normal,
                             .reading_size = fogbridge::encoded_size});
        fill(st);
        pending_bytes = st.stats().pending_bytes;
    }
    make_version_2(dir.db());
    const auto r = fogbridge::store::inspect(dir.db());
    CHECK(r.schema_version == 2);
    check_figures(r, pending_bytes);
}

TEST_CASE("store::inspect reads gap records, at this schema and older ones, changing nothing") {
    temp_dir dir;
    {
        fogbridge::store st({.path = dir.db(),
                             .synchronous = fogbridge::sync_mode::normal,
                             .ttl_s = 5,
                             .reading_size = fogbridge::encoded_size});
        fill(st);
        REQUIRE(st.expire(1008.0) == 1U);  // d1/7 seq 3, pending since 1000
        REQUIRE(st.stats().gap_records == 1U);
    }
    const auto now = fogbridge::store::inspect(dir.db());
    CHECK(now.schema_version == 4);
    CHECK(now.held_readings == 3U);
    CHECK(now.pending_readings == 1U);
    CHECK(now.gap_records == 1U);
    CHECK(now.leased_gap_messages == 0U);
    CHECK(now.gap_readings.ttl == 1U);
    CHECK(now.gap_readings.total() == 1U);
    CHECK(now.drops_total.ttl == 1U);

    // Each step takes the file one version back (make_version_1 starts from the current one).
    const auto version_2_to_1 = [](const fs::path& path) {
        fogbridge::sqlite::database db(path);
        db.exec("ALTER TABLE batches DROP COLUMN replay");
        db.exec("DELETE FROM meta WHERE key = 'backlog_end'");
        db.exec("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
    };
    for (auto* make_old : {&make_version_3, &make_version_2, +version_2_to_1}) {
        make_old(dir.db());
        const auto old = fogbridge::store::inspect(dir.db());
        CAPTURE(old.schema_version);
        CHECK(old.schema_version < 4);
        auto same = now;
        same.schema_version = old.schema_version;
        CHECK(old == same);
        // Read-only: a second look finds the file at its old version still.
        CHECK(fogbridge::store::inspect(dir.db()).schema_version == old.schema_version);
    }
}

TEST_CASE("queue report refuses what is not a store, with one line") {
    temp_dir dir;
    std::ostringstream out;
    std::ostringstream err;
    CHECK(fogbridge::run_queue_report(dir.db(), false, {.out = out, .err = err}, 0) == 1);
    CHECK(err.str() == "fogbridge queue: " + dir.db().string() + ": no such store file\n");
    CHECK(out.str().empty());
    CHECK_FALSE(fs::exists(dir.db()));  // read-only: nothing was created

    std::ofstream(dir.db()) << "this is not a database, just some text that is long enough\n";
    err.str("");
    CHECK(fogbridge::run_queue_report(dir.db(), true, {.out = out, .err = err}, 0) == 1);
    CHECK(err.str().find("fogbridge queue: " + dir.db().string() + ": ") == 0);

    fs::remove(dir.db());
    {
        fogbridge::sqlite::database db(dir.db());
        db.exec("CREATE TABLE other(x)");
    }
    err.str("");
    CHECK(fogbridge::run_queue_report(dir.db(), false, {.out = out, .err = err}, 0) == 1);
    CHECK(err.str() ==
          "fogbridge queue: " + dir.db().string() + ": not a fogbridge store (no meta table)\n");

    {
        fogbridge::sqlite::database db(dir.db());
        db.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL)");
        db.exec("INSERT INTO meta VALUES('schema_version', 99), ('leased_upto', 0)");
    }
    err.str("");
    CHECK(fogbridge::run_queue_report(dir.db(), false, {.out = out, .err = err}, 0) == 1);
    CHECK(err.str() == "fogbridge queue: " + dir.db().string() +
                           ": schema version 99 is not one this build reads (1..4)\n");
}

namespace {

queue_report fixed_report() {
    queue_report r;
    r.schema_version = 1;
    r.held_readings = 1200;
    r.pending_readings = 1000;
    r.leased_readings = 200;
    r.held_bytes = 120000;
    r.pending_bytes = 100000;
    r.leased_batches = 1;
    r.oldest_enqueued = 1732630000.25;
    r.oldest_batch_created = 1732630010.0;
    r.newest_enqueued = 1732630030.0;
    r.gap_records = 2;
    r.leased_gap_messages = 1;
    r.gap_readings.ttl = 5;
    r.drops_total.ttl = 7;
    boot_report b7{7, 1042, 842, 1200, 200, 43, 1242, 1732630000.25};
    boot_report b9{9, 10, 10, 0, 0, std::nullopt, std::nullopt, std::nullopt};
    r.devices = {device_report{"kitchen-1", 1200, 200, 120000, 1732630000.25, {b7}},
                 device_report{"d2", 0, 0, 0, std::nullopt, {b9}}};
    return r;
}

}  // namespace

TEST_CASE("queue report text output") {
    std::ostringstream out;
    fogbridge::write_queue_text("/var/lib/fogbridge/fogbridge.db", fixed_report(), 1732630035.5,
                                out);
    CHECK(out.str() ==
          "store    /var/lib/fogbridge/fogbridge.db (schema 1)\n"
          "queue    1200 readings: 1000 pending (100000 bytes), 200 in 1 leased batches\n"
          "oldest   35.2 s (enqueued 2024-11-26T14:06:40.250Z)\n"
          "gaps     2 records waiting, 1 messages unacknowledged\n"
          "devices  2\n"
          "\n"
          "device     boot  processed  held  leased  seqs      oldest_s\n"
          "kitchen-1  7     1042       1200  200     43..1242  35.2\n"
          "d2         9     10         0     0       -         -\n");

    std::ostringstream empty;
    queue_report r;
    r.schema_version = 1;
    fogbridge::write_queue_text("q.db", r, 0, empty);
    CHECK(empty.str() ==
          "store    q.db (schema 1)\n"
          "queue    0 readings: 0 pending (0 bytes), 0 in 0 leased batches\n"
          "oldest   -\n"
          "gaps     0 records waiting, 0 messages unacknowledged\n"
          "devices  0\n");
}

TEST_CASE("queue report JSON output") {
    std::ostringstream out;
    fogbridge::write_queue_json("/var/lib/fogbridge/fogbridge.db", fixed_report(), 1732630035.5,
                                out);
    const auto j = nlohmann::json::parse(out.str());
    const auto expected = nlohmann::json::parse(R"({
        "store": "/var/lib/fogbridge/fogbridge.db", "schema_version": 1, "ts": 1732630035.5,
        "readings": 1200, "pending_readings": 1000, "leased_readings": 200,
        "bytes": 120000, "held_bytes": 120000, "pending_bytes": 100000, "leased_batches": 1,
        "oldest_enqueued": 1732630000.25, "oldest_age_s": 35.25, "oldest_batch_age_s": 25.5,
        "newest_enqueued": 1732630030.0, "gap_records": 2, "leased_gap_messages": 1,
        "gap_readings": {"store_full_bytes": 0, "store_full_rows": 0, "disk_low": 0, "ttl": 5,
                         "store_lost": 0},
        "drops_total": {"store_full_bytes": 0, "store_full_rows": 0, "disk_low": 0, "ttl": 7,
                        "store_lost": 0},
        "devices": [
          {"device": "kitchen-1", "readings": 1200, "leased_readings": 200, "bytes": 120000,
           "oldest_enqueued": 1732630000.25, "oldest_age_s": 35.25,
           "boots": [{"boot": 7, "processed": 1042, "covered": 842, "readings": 1200,
                      "leased_readings": 200, "first_seq": 43, "last_seq": 1242,
                      "oldest_age_s": 35.25}]},
          {"device": "d2", "readings": 0, "leased_readings": 0, "bytes": 0,
           "oldest_enqueued": null, "oldest_age_s": null,
           "boots": [{"boot": 9, "processed": 10, "covered": 10, "readings": 0,
                      "leased_readings": 0, "first_seq": null, "last_seq": null,
                      "oldest_age_s": null}]}
        ]})");
    CHECK(j == expected);
    CHECK(out.str().back() == '\n');
}
