// The gateway's SQLite store-and-forward queue: kept readings, per-(device, boot) progress, leased
// batches and filter state, with the delivery guarantees of DESIGN.md.
// Thread-safe: every public method holds one internal mutex around one SQLite connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/reading.hpp"
#include "common/seq_range.hpp"
#include "store/store_error.hpp"

namespace fogbridge {

enum class sync_mode { full, normal };

struct store_settings {
    std::filesystem::path path = "fogbridge.db";
    sync_mode synchronous = sync_mode::full;  // FULL survives power loss, NORMAL a process crash
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
struct commit_set {
    std::vector<reading> readings;  // kept readings; one already stored is a duplicate, not stored
    std::vector<progress_update> progress;        // processed marks; a lower one never lowers it
    std::vector<filter_state_row> filter_states;  // upserts
    double now = 0;                               // wall time, seconds since the epoch
};

struct commit_result {
    std::size_t inserted = 0;
    std::size_t duplicates = 0;
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

    bool operator==(const lease&) const = default;
};

struct queue_stats {
    std::size_t pending_readings = 0;  // stored, not yet in a batch
    std::size_t pending_bytes = 0;     // their JSON size estimate
    std::size_t leased_batches = 0;
    std::size_t leased_readings = 0;
    std::optional<double> oldest_enqueued;  // enqueue time of the first-stored reading still held
    bool uncovered = false;  // some (device, boot) has processed seqs no batch accounts for yet
};

class store final {
  public:
    // Opens or creates the store; throws std::runtime_error "store <path>: <reason>".
    explicit store(const store_settings& settings);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    // The operations below throw store_error (a std::system_error with a store_errc) when
    // SQLite fails; the transaction is then rolled back and nothing has changed.

    commit_result commit(const commit_set& set);
    std::vector<progress_update> load_progress();
    std::vector<filter_state_row> load_filter_states();

    // Moves the oldest pending readings into a new batch (at least one if any is pending; then
    // no more than max_readings, and no more than max_bytes of estimated JSON). std::nullopt
    // when there is neither a pending reading nor uncovered progress.
    std::optional<lease> lease_batch(std::size_t max_readings, std::size_t max_bytes, double now);
    // Batches leased and not acknowledged, oldest first, exactly as first leased.
    std::vector<lease> leased_batches();
    // Deletes the batch and its readings; false when the id is unknown (e.g. acked already).
    bool ack_batch(const std::string& batch_id);

    queue_stats stats();  // from counters kept in memory; no table scan
    std::string epoch();  // random hex id of this store file, made at creation

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace fogbridge
