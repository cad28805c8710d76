// Reopening the store's connection after an I/O error. Not thread-safe by itself: store holds
// its mutex around every call.
#include "store/schema.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {

// The WAL may hold a transaction whose commit failed (its frames were written, its fsync was
// not): opening makes it committed, but nothing says it is on the disk, and a retried commit that
// changes nothing more would not sync. A full checkpoint copies the WAL into the database file
// (fresh writes) and syncs it; until one succeeds, no commit is accepted.
void store::impl::checkpoint() {
    sqlite::statement cp(db, "PRAGMA wal_checkpoint(FULL)");
    if (!cp.step() || cp.column_int(0) != 0) {
        db.mark_failed();
        throw store_error(store_errc::io, "store: checkpoint after reopening did not complete");
    }
}

// A failed fsync may have left the kernel's page cache holding pages the disk does not (Linux
// marks them clean and reports the error once), and SQLite's own cache may hold pages of the
// failed transaction: neither is trusted. The file is opened afresh and everything memory
// derives from it is read again; a transaction that failed was never acknowledged.
void store::impl::reopen_if_failed() {
    if (!db.failed()) {
        return;
    }
    db.reopen();
    sync_now.reset();
    epoch = schema::prepare(db, settings.synchronous);  // the connection's pragmas again
    sync_now = settings.synchronous;
    checkpoint();
    const queue_stats session = counters;
    counters = {};
    lanes = {};
    devices = {};
    held.clear();
    uncovered.clear();
    load_counters();
    counters.drops = session.drops;
    counters.rejected_commits = session.rejected_commits;
    counters.reopens = session.reopens + 1;
}

bool store::impl::already_committed(std::uint64_t token) {
    if (token == 0) {
        return false;
    }
    if (!get_token) {
        get_token = std::make_unique<sqlite::statement>(
            db, "SELECT value FROM meta WHERE key = 'last_commit_token'");
    }
    const sqlite::reset_on_exit guard(*get_token);
    return get_token->step() && get_token->column_int(0) == static_cast<std::int64_t>(token);
}

void store::impl::mark_committed(std::uint64_t token) {
    if (token == 0) {
        return;
    }
    if (!put_token) {
        put_token = std::make_unique<sqlite::statement>(
            db,
            "INSERT INTO meta(key, value) VALUES('last_commit_token', ?1) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    }
    const sqlite::reset_on_exit guard(*put_token);
    put_token->bind_int(1, static_cast<std::int64_t>(token));
    put_token->run();
}

}  // namespace fogbridge
