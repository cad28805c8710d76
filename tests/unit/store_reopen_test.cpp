// The store after disk errors: commit tokens and reopening the SQLite connection.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::reading;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

commit_set two_readings(std::uint64_t token) {
    commit_set set;
    for (std::uint64_t seq = 1; seq <= 2; ++seq) {
        set.readings.push_back({"dev", "t", 1.5, "C", 1000.0 + static_cast<double>(seq), 7, seq});
    }
    set.progress.push_back({"dev", 7, 2});
    set.now = 50;
    set.token = token;
    return set;
}

}  // namespace

TEST_CASE("a retried commit with the same token is not stored again after its readings left") {
    const scratch_dir dir("fogbridge-reopen");
    store_settings settings;
    settings.reading_size = fogbridge::encoded_size;
    settings.path = dir.path() / "q.db";
    store s(settings);
    CHECK(s.commit(two_readings(41)).inserted == 2);
    auto l = s.lease_batch(10, 1 << 20, 60);
    REQUIRE(l);
    CHECK(s.ack_batch(l->batch_id));
    // As when a COMMIT reported failure but reached the file: the retry must not re-insert.
    const auto again = s.commit(two_readings(41));
    CHECK(again.inserted == 0);
    CHECK(again.duplicates == 2);
    CHECK(s.stats().pending_readings == 0);
    // Another commit (another token) of the same readings is a re-send after the ack: stored.
    CHECK(s.commit(two_readings(42)).inserted == 2);
}

TEST_CASE("statements work again after the connection is reopened") {
    const scratch_dir dir("fogbridge-reopen");
    fogbridge::sqlite::database db(dir.path() / "x.db");
    db.exec("CREATE TABLE t(x)");
    fogbridge::sqlite::statement insert(db, "INSERT INTO t(x) VALUES(?1)");
    fogbridge::sqlite::statement count(db, "SELECT count(*) FROM t");
    insert.bind_int(1, 1);
    insert.run();
    insert.reset();
    CHECK_FALSE(db.failed());
    db.mark_failed();
    db.reopen();
    CHECK_FALSE(db.failed());
    insert.bind_int(1, 2);
    insert.run();
    insert.reset();
    REQUIRE(count.step());
    CHECK(count.column_int(0) == 2);
}
