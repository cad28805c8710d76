// Internals of fogbridge::store shared by its source files: the connection, the prepared
// statements and the counters. Not thread-safe by itself: store holds `mutex` around all use.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/lanes.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace fogbridge {

using series_key = std::pair<std::string, std::uint64_t>;  // (device, boot)

// A commit inserts its readings up to this many rows per INSERT statement: SQLite's work per
// statement (and per VDBE instruction dispatch) is then paid per chunk, not per row.
inline constexpr std::size_t max_insert_rows = 64;
inline constexpr int insert_params_per_row = 10;  // id, device, boot, seq, sensor, value, unit,
                                                  // ts, bytes, ts_gw

// Readings held (pending + leased) and their estimated bytes.
struct held_count {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
};
// Per device id (readings.device); a device holding nothing has no entry.
using held_by_device = std::unordered_map<std::int64_t, held_count>;

// What one commit inserted: `rows` readings of `bytes`, ids from first_id on.
struct added_readings {
    std::size_t rows = 0;
    std::size_t bytes = 0;
    std::int64_t first_id = 0;
    const held_by_device& by_device;  // what they hold, per device
};
void add_held(held_by_device& to, std::int64_t device, const held_count& more);
void add_held(held_by_device& to, const held_by_device& more);
void remove_held(held_by_device& from, const held_by_device& gone);

// The `devices` table in memory, both ways (readings name their device by its id).
struct device_cache {
    std::unordered_map<std::string, std::int64_t> ids;
    std::vector<const std::string*> names;  // keys of `ids` by id; null where none

    // The name of a device id of `readings.device`; throws store_errc::corrupt for an unknown id.
    const std::string& name(std::int64_t id) const;
    std::int64_t next_id() const;  // the id a new device gets
    void add(std::string name, std::int64_t id);
};

// Every statement the store runs after opening, prepared once.
struct statements {
    explicit statements(sqlite::database& db);

    sqlite::statement begin, commit, rollback;
    // [k] inserts 2^k readings in one statement (1 to max_insert_rows).
    std::vector<std::unique_ptr<sqlite::statement>> insert_readings;
    sqlite::statement insert_device, ids_between, upsert_progress, upsert_filter_state;
    sqlite::statement all_progress, all_filter_states;
    sqlite::statement pending_readings, next_batch_counter, set_leased_upto, set_backlog_end;
    sqlite::statement progress_of, ahead_of, pending_seqs_from;
    sqlite::statement raise_covered, delete_series_ahead, insert_ahead, insert_batch;
    sqlite::statement all_batches, batch_readings, find_batch, delete_batch_readings, delete_batch;
    sqlite::statement oldest_enqueued, first_enqueued_in;
    // Drops and gap records.
    sqlite::statement drop_candidates, delete_pending_upto, ahead_before, ahead_from,
        delete_ahead_run, pending_seqs_between, open_gap, upsert_gap, raise_gap_hi, add_drops;
    sqlite::statement pending_gaps, next_gap_counter, set_gaps_leased_upto, insert_gap_lease,
        all_gap_leases, gaps_between, find_gap_lease, delete_gaps_between, delete_gap_lease,
        oldest_gap;
    sqlite::statement device_candidates, delete_reading, held_in_ids;
    sqlite::statement prunable, series_holds, delete_progress;
};

// How a transaction commits. `durable`: at the configured synchronous level (FULL: the WAL is
// synced before COMMIT returns). `relaxed`: synchronous=NORMAL, no sync; a power loss may undo it,
// but only together with everything committed after it (the WAL is replayed as a prefix), and the
// next durable commit's sync makes it durable too. Only acknowledgements commit relaxed: losing
// one re-sends a batch the cloud has, with the same batch_id (README.md, "Acknowledgements").
enum class durability { durable, relaxed };

// A leased batch that an acknowledgement deleted.
struct acked_batch {
    id_range ids;
    std::size_t readings = 0;
    std::size_t bytes = 0;
    held_by_device by_device;
};

// A pending reading chosen to be dropped.
struct drop_candidate {
    std::int64_t id = 0;
    std::int64_t device = 0;  // readings.device
    series_key series;
    std::uint64_t seq = 0;
    double ts = 0;
    std::size_t bytes = 0;
    drop_reason reason = drop_reason::store_full_bytes;
};

// What a drop changed, applied to the counters once its transaction has committed.
struct drop_outcome {
    std::size_t readings = 0;
    std::size_t bytes = 0;
    std::size_t backlog_readings = 0;  // of them, in the backlog lane
    std::size_t backlog_bytes = 0;
    drop_counts by_reason;
    std::size_t new_gaps = 0;
    std::optional<double> first_new_gap_created;
    std::int64_t next_gap_id = 0;
    held_by_device by_device;  // what the dropped readings held
};

// What a commit has to free before it may go in.
struct room_needed {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::uint64_t disk = 0;

    bool any() const { return rows > 0 || bytes > 0 || disk > 0; }
    // The most severe limit still unmet names the drop.
    drop_reason reason() const {
        if (disk > 0) {
            return drop_reason::disk_low;
        }
        return bytes > 0 ? drop_reason::store_full_bytes : drop_reason::store_full_rows;
    }
    void take(std::size_t row_bytes) {
        rows -= std::min<std::uint64_t>(rows, 1);
        bytes -= std::min<std::uint64_t>(bytes, row_bytes);
        disk -= std::min<std::uint64_t>(disk, row_bytes);
    }
};

// Drop candidates from the boards over their share of a full store.
struct share_candidates {
    std::vector<drop_candidate> candidates;  // ascending ids per board
    // A board is still over its share, holding no older pending reading (only leased ones and
    // this commit's): the others keep theirs, and the commit goes in over max_rows/max_bytes
    // until acknowledgements free the room.
    bool over_share_left = false;
};

struct store::impl {
    explicit impl(const store_settings& settings);

    // BEGIN IMMEDIATE, after setting the connection's synchronous level for this transaction.
    sqlite::transaction begin(durability d = durability::durable);
    // After an I/O error (a failed write or fsync): closes the connection, opens the file again
    // and reloads what memory holds from it, rather than trust a page cache the disk may not
    // match. Throws store_error while it cannot. store_reopen.cpp.
    void reopen_if_failed();
    void checkpoint();  // PRAGMA wal_checkpoint(FULL); throws store_errc::io unless complete
    // commit_set::token: whether the last commit stored was this one; records it (in the
    // caller's transaction). Token 0 is never recorded.
    bool already_committed(std::uint64_t token);
    void mark_committed(std::uint64_t token);
    // Deletes the batch and its readings inside the caller's transaction; nullopt when unknown.
    std::optional<acked_batch> delete_batch(const std::string& batch_id);
    std::optional<lease> lease_batch(std::size_t max_readings, std::size_t max_bytes,
                                     lease_lane lane, double now);
    std::size_t start_backlog();
    void load_counters();
    void load_devices();
    // The device ids of the readings (readings.device). A device seen for the first time gets a
    // row in `devices`, inside the caller's transaction; it is appended to `added` and joins the
    // cache only through add_devices, once that transaction has committed.
    std::vector<std::int64_t> device_ids_of(const std::vector<reading>& readings,
                                            std::vector<std::string>& added);
    void add_devices(std::vector<std::string>& added);
    void refresh_oldest();
    // The enqueue time of the first reading in the pending spans from `from` on.
    std::optional<double> first_pending_enqueued(std::int64_t from);
    // The lanes' counters and the per-device shares, from one pass over the readings.
    void tally_rows();

    // Enforces the limits after a commit inserted `added`, inside its transaction: drops older
    // pending readings (drop_oldest), or throws store_error(full) (reject_new, or no room on
    // disk).
    drop_outcome make_room(const added_readings& added, double now);
    // Under drop_oldest, first the boards over their share of the store give up their own oldest
    // pending readings (store_share.cpp), then the oldest pending readings of all.
    share_candidates candidates_over_share(room_needed& need, held_by_device boards,
                                           std::int64_t first_new_id);
    // Drops the candidates (the oldest pending readings, ascending ids), inside the caller's
    // transaction; records gap records and accounting.
    drop_outcome drop(std::vector<drop_candidate>& candidates, double now, bool oldest = true);
    // The candidates must be ascending ids; `oldest`: they are the oldest pending readings
    // (deleted by id ranges), else deleted one by one.
    void delete_candidates(const std::vector<drop_candidate>& candidates, bool oldest);
    void apply(const drop_outcome& outcome);
    // commit_set::lost as gap records (store_lost), inside the caller's transaction; gap ids
    // from first_gap_id on. apply_lost once it has committed. store_lost.cpp.
    drop_outcome record_lost(double now, const std::vector<lost_range>& lost,
                             std::int64_t first_gap_id);
    void apply_lost(const drop_outcome& outcome);
    std::uint64_t lost_total();  // meta.drops_store_lost; 0 in a store made before it existed
    // Measures the free bytes on the filesystem (counters.disk_free) when the last measurement
    // is disk_check_interval_s old.
    void measure_disk_if_due(double now);
    // Free bytes after `adding` more bytes, from the last measurement; nullopt when unknown.
    std::optional<std::uint64_t> disk_free_after(std::uint64_t adding) const;

    store_settings settings;
    std::mutex mutex;
    sqlite::database db;
    std::optional<sync_mode> sync_now;  // the connection's synchronous level; nullopt: unknown
    std::string epoch;
    statements st;
    std::vector<std::string> unrecorded_acks;  // acks the disk refused; retried (store_guard.cpp)
    std::unique_ptr<sqlite::statement> get_token, put_token;  // prepared on first use; after db
    lane_marks lanes;          // which readings are leased, backlog or live
    std::int64_t next_id = 1;  // above every id ever used, so ids are never reused
    device_cache devices;
    std::int64_t gaps_leased_upto = 0;  // the same for gap records
    std::int64_t next_gap_id = 1;
    queue_stats counters;
    held_by_device held;             // pending + leased readings per device: the per-board share
    std::set<series_key> uncovered;  // progress rows with processed > covered
    std::optional<double> disk_measured_at;
    std::uint64_t disk_written_since = 0;  // estimated bytes added since the last measurement
};

// store_impl helpers used by more than one source file.
void bind_series(sqlite::statement& s, const series_key& key);
// A gap record from a row of (id, device, boot, reason, first_seq, last_seq, count, dropped,
// first_ts, last_ts, created).
gap_record read_gap_row(const sqlite::statement& s);
// Records the drops of one (device, boot), sorted by seq, as gap records and accounted seqs
// (store_gap_records.cpp), inside the caller's transaction; also used for the seqs the store lost
// (store_lost.cpp).
void record_series(statements& st, const lane_marks& lanes, std::int64_t gaps_leased_upto,
                   const series_key& key, const std::vector<const drop_candidate*>& drops,
                   double now, drop_outcome& out);
// A drop candidate from a row of (id, device, boot, seq, ts, bytes, enqueued).
drop_candidate read_candidate(const device_cache& devices, const sqlite::statement& s,
                              drop_reason reason);
// Ahead runs of the series that hold a seq in first..last, ascending.
std::vector<seq_run> load_ahead(statements& st, const series_key& key, std::uint64_t first,
                                std::uint64_t last);

}  // namespace fogbridge
