// The gateway's SQLite store-and-forward queue: kept readings, per-(device, boot) progress, leased
// batches, gap records of dropped readings and filter state, with the guarantees of
// docs/architecture.md.
// Thread-safe: every public method holds one internal mutex around one SQLite connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/reading.hpp"
#include "common/seq_range.hpp"
#include "store/seq_run.hpp"
#include "store/store_error.hpp"

namespace fogbridge {

enum class sync_mode { full, normal };

// What a commit does when it would take the store over a limit.
enum class store_policy {
    drop_oldest,  // drop the oldest pending readings (reported as gap records) to make room
    reject_new,   // refuse the commit with store_errc::full; the devices keep the readings
};

struct store_settings {
    std::filesystem::path path = "fogbridge.db";
    sync_mode synchronous = sync_mode::full;  // FULL survives power loss, NORMAL a process crash
    // Limits on what the store holds (pending + leased readings); 0 = no limit.
    std::uint64_t max_bytes = 0;  // sum of the readings' estimated JSON size
    std::uint64_t max_rows = 0;   // readings
    // Free space kept on the store's filesystem: on by default, so a full disk never stops the
    // gateway (or the system) for good.
    std::uint64_t min_free_bytes = 64ULL << 20;
    double ttl_s = 0;  // a pending reading older than this is dropped by expire()
    // The pipeline forgets the progress of (device, boot)s idle this long (prune_progress); 0 =
    // never.
    double prune_after_s = 7 * 86400.0;
    store_policy policy = store_policy::drop_oldest;
    double disk_check_interval_s = 1.0;  // free space is measured at most this often
    // Free bytes on the store's filesystem (nullopt: unknown), called with the store's lock held.
    // Empty: statvfs. Tests replace it.
    std::function<std::optional<std::uint64_t>()> disk_free = {};
    // The estimated size of a reading in a batch, which max_bytes and lease_batch's max_bytes
    // count: the batch encoder's encoded_size, given by the caller so the store does not depend
    // on the encoding. Required: the store refuses to open without it.
    std::function<std::size_t(const reading&)> reading_size = {};
};

// Why readings were dropped; the names are the `reason` of gap records on the wire.
// store_lost: seqs the gateway had acknowledged that the store no longer holds (a power cut
// undid their transaction, with synchronous = "normal"); recorded so they are counted, not missing.
enum class drop_reason { store_full_bytes, store_full_rows, disk_low, ttl, store_lost };
std::string_view to_string(drop_reason reason);
std::optional<drop_reason> drop_reason_from(std::string_view name);

struct drop_counts {
    std::uint64_t store_full_bytes = 0;
    std::uint64_t store_full_rows = 0;
    std::uint64_t disk_low = 0;
    std::uint64_t ttl = 0;
    std::uint64_t store_lost = 0;

    std::uint64_t& operator[](drop_reason reason);
    std::uint64_t operator[](drop_reason reason) const;
    std::uint64_t total() const;
    bool operator==(const drop_counts&) const = default;
};

struct progress_update {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t processed = 0;  // highest contiguous seq processed: stored, filtered or rejected

    bool operator==(const progress_update&) const = default;
};

struct filter_state_row {
    std::string device;
    std::string sensor;
    std::string state;  // opaque to the store (JSON owned by the filter stage)

    bool operator==(const filter_state_row&) const = default;
};

// Everything one group commit makes durable, in one transaction.
// Seqs first..last of (device, boot) that were acknowledged once and are not in the store: the
// commit records them as a gap record (store_lost) with the progress that moves past them.
struct lost_range {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    bool operator==(const lost_range&) const = default;
};

struct commit_set {
    std::vector<reading> readings;  // kept readings; one already stored is a duplicate, not stored
    std::vector<progress_update> progress;        // processed marks; a lower one never lowers it
    std::vector<filter_state_row> filter_states;  // upserts
    std::vector<lost_range> lost;                 // after the progress: gap records
    double now = 0;                               // wall time, seconds since the epoch
    // Names the commit across retries (0: unnamed). A commit whose COMMIT failed may still have
    // reached the file (its WAL frames were written): reopening the store then finds it applied,
    // and a retry with the same token changes nothing instead of storing its readings again.
    std::uint64_t token = 0;
};

// Where lease_batch takes readings from. After an outage everything stored so far is the backlog
// (start_backlog); readings stored since are live. Both drain beside each other.
enum class lease_lane { live, backlog };

struct commit_result {
    std::size_t inserted = 0;
    std::size_t duplicates = 0;
    std::size_t dropped = 0;  // older pending readings dropped to make room (drop_oldest)
};

struct stored_reading {
    reading r;
    double enqueued = 0;  // gateway wall time of the commit that stored it

    bool operator==(const stored_reading&) const = default;
};

// A batch handed to the uplink; it stays leased (and is re-sent as is) until acknowledged.
struct lease {
    std::string batch_id;
    std::vector<stored_reading> readings;  // in store order; may be empty (coverage only)
    std::vector<seq_range> ranges;         // sorted by device, boot, first
    double created = 0;
    bool replay = false;  // leased from the backlog lane

    bool operator==(const lease&) const = default;
};

// Readings of one (device, boot) that the store dropped, all for one reason. The record accounts
// for every seq in first..last: those in `dropped` were dropped; any other was filtered, unless a
// batch carries it. Records of one (device, boot) never overlap, and no batch range reports a
// dropped seq.
struct gap_record {
    std::string device;
    std::uint64_t boot = 0;
    drop_reason reason = drop_reason::store_full_bytes;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t count = 0;       // dropped readings: the seqs in `dropped`
    std::vector<seq_run> dropped;  // ascending, disjoint, within first..last
    double first_ts = 0;           // `ts` of the reading at `first`, and at `last`
    double last_ts = 0;
    double created = 0;  // gateway wall time of the first drop in this record

    bool operator==(const gap_record&) const = default;
};

// Gap records handed to the uplink as one message; leased (re-sent as is) until acknowledged.
struct gap_lease {
    std::string gap_id;
    std::vector<gap_record> records;  // in store order
    double created = 0;

    bool operator==(const gap_lease&) const = default;
};

struct queue_stats {
    std::size_t pending_readings = 0;  // stored, not yet in a batch
    std::size_t pending_bytes = 0;     // their JSON size estimate
    std::size_t backlog_readings = 0;  // of the pending ones, those in the backlog lane
    std::size_t backlog_bytes = 0;
    std::size_t leased_batches = 0;
    std::size_t leased_readings = 0;
    std::size_t leased_bytes = 0;
    std::size_t held_readings = 0;          // pending + leased: what max_rows limits
    std::size_t held_bytes = 0;             // pending + leased: what max_bytes limits
    std::optional<double> oldest_enqueued;  // enqueue time of the first-stored reading still held
    std::optional<double> oldest_pending;   // enqueue time of the oldest pending reading (TTL)
    std::optional<double> oldest_live;      // the same for the live lane (when a batch is due)
    bool uncovered = false;   // some (device, boot) has processed seqs no batch accounts for yet
    drop_counts drops;        // readings dropped since the store was opened, by reason
    drop_counts drops_total;  // the same since the store file was made (persisted)
    std::uint64_t rejected_commits = 0;       // commits refused with store_errc::full since open
    std::uint64_t reopens = 0;                // connections reopened after an I/O error since open
    std::uint64_t uplink_write_failures = 0;  // uplink writes the disk refused, since open
    std::optional<std::uint64_t> disk_free;   // free bytes on the filesystem, last measured
    std::size_t gap_records = 0;              // gap records not yet leased
    std::optional<double> oldest_gap;         // `created` of the oldest of them
    std::size_t leased_gap_messages = 0;      // gap leases not yet acknowledged
};

struct store_inspection;  // store/inspection.hpp

class store final {
  public:
    // Opens or creates the store; throws std::runtime_error "store <path>: <reason>".
    explicit store(const store_settings& settings);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    // The operations below throw store_error (a std::system_error with a store_errc) when
    // SQLite fails; the transaction is then rolled back and nothing has changed. Except: the
    // uplink's writes (lease_batch, start_backlog, ack_batch(es), lease_gaps, ack_gaps) do not
    // throw when the disk refuses the write (store_errc::full, io, busy): they change nothing,
    // return as if there were nothing to do, and count it in stats().uplink_write_failures. A
    // lost acknowledgement only re-sends the batch with its batch_id (see ack_batch).

    // Stores the set in one transaction, enforcing the limits (see README.md): with reject_new a
    // commit over a limit throws store_errc::full and writes nothing; with drop_oldest it drops
    // older pending readings (never leased ones) and throws store_errc::full only when free disk
    // space is below min_free_bytes and nothing pending is left to drop.
    commit_result commit(const commit_set& set);
    std::vector<progress_update> load_progress();
    std::vector<filter_state_row> load_filter_states();

    // Moves the oldest pending readings of the lane into a new batch (at least one if any is
    // pending there; then no more than max_readings, and no more than max_bytes of estimated
    // JSON). A live lease with no live reading may carry only seq ranges of uncovered progress.
    // std::nullopt when there is nothing to lease in the lane.
    std::optional<lease> lease_batch(std::size_t max_readings, std::size_t max_bytes, double now,
                                     lease_lane lane = lease_lane::live);
    // Makes every pending reading backlog (the uplink calls it when it connects). Returns how
    // many readings the backlog holds now.
    std::size_t start_backlog();
    // Batches leased and not acknowledged, oldest first, exactly as first leased.
    std::vector<lease> leased_batches();
    // Deletes the batch and its readings; false when the id is unknown (e.g. acked already).
    // An acknowledgement does not wait for the disk: a power loss may undo it (and only it with
    // what followed), and the batch is then sent again with the same batch_id and readings.
    bool ack_batch(const std::string& batch_id);
    // The same for several batches in one transaction; returns how many ids were known.
    std::size_t ack_batches(const std::vector<std::string>& batch_ids);

    // Drops the pending readings enqueued before now - ttl_s, oldest first, as gap records with
    // reason ttl. Returns how many; costs nothing when none is due (call it about once a second).
    std::size_t expire(double now);

    // Moves the oldest gap records not yet leased (at most max_records, at least one if any)
    // into a new gap lease; std::nullopt when there is none. A leased record no longer changes.
    std::optional<gap_lease> lease_gaps(std::size_t max_records, double now);
    // Gap leases not acknowledged, oldest first, exactly as first leased.
    std::vector<gap_lease> leased_gaps();
    // Deletes the gap lease and its records; false when the id is unknown.
    bool ack_gaps(const std::string& gap_id);

    // Forgets the progress of (device, boot)s that are fully covered, hold no reading and were not
    // touched (committed or covered) since older_than. Returns how many.
    std::size_t prune_progress(double older_than);
    // prune_progress(now - prune_after_s); 0 when prune_after_s is 0. Call it now and then.
    std::size_t prune_idle(double now);

    queue_stats stats();  // from counters kept in memory; no table scan
    // Reads the store file at `path` read-only in one read transaction (safe while a gateway
    // has it open: WAL), at any schema version this build can upgrade, without changing it.
    // Throws std::runtime_error with a one-line reason that does not name the file.
    static store_inspection inspect(const std::filesystem::path& path);
    std::string epoch();  // random hex id of this store file, made at creation

  private:
    // The uplink's writes as such; the public ones (store_guard.cpp) tolerate a refusing disk.
    std::optional<lease> lease_batch_unguarded(std::size_t max_readings, std::size_t max_bytes,
                                               double now, lease_lane lane);
    std::size_t start_backlog_unguarded();
    std::size_t ack_batches_unguarded(const std::vector<std::string>& batch_ids);
    struct gap_lease_ask {
        std::size_t max_records = 0;
        double now = 0;
    };
    std::optional<gap_lease> lease_gaps_unguarded(const gap_lease_ask& ask);
    bool ack_gaps_unguarded(const std::string& gap_id);
    void retry_unrecorded_acks();

    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace fogbridge
