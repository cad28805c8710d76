// Reopening the store's connection after an I/O error. Not thread-safe by itself: store holds
// its mutex around every call.
#include "store/schema.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {

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
    const queue_stats session = counters;
    counters = {};
    lanes = {};
    devices = {};
    uncovered.clear();
    load_counters();
    counters.drops = session.drops;
    counters.rejected_commits = session.rejected_commits;
    counters.reopens = session.reopens + 1;
}

}  // namespace fogbridge
