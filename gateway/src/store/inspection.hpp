// What store::inspect reads from a store file: plain figures of what it holds, for the
// `fogbridge --queue` report. Plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace fogbridge {

// One (device, boot): what the store holds of it and how far the gateway has processed it.
struct inspected_boot {
    std::uint64_t boot = 0;
    std::optional<std::uint64_t> processed;  // highest contiguous seq processed (progress table)
    std::optional<std::uint64_t> covered;    // seqs accounted for upstream by a batch or gap
    std::uint64_t readings = 0;              // held: pending or in a leased batch
    std::uint64_t leased_readings = 0;       // of which in a leased batch
    std::optional<std::uint64_t> first_seq;  // lowest and highest seq held
    std::optional<std::uint64_t> last_seq;
    std::optional<double> oldest_enqueued;  // seconds since the epoch

    bool operator==(const inspected_boot&) const = default;
};

struct inspected_device {
    std::string device;
    std::uint64_t readings = 0;  // held
    std::uint64_t leased_readings = 0;
    std::uint64_t bytes = 0;  // estimated JSON bytes of the held readings
    std::optional<double> oldest_enqueued;
    std::vector<inspected_boot> boots;  // by boot

    bool operator==(const inspected_device&) const = default;
};

// Held = pending + leased, as in queue_stats: what store.max_rows and max_bytes limit.
struct store_inspection {
    std::int64_t schema_version = 0;
    std::uint64_t held_readings = 0;
    std::uint64_t pending_readings = 0;  // not yet in a batch
    std::uint64_t leased_readings = 0;   // in a batch not yet acknowledged
    std::uint64_t held_bytes = 0;        // estimated JSON bytes
    std::uint64_t pending_bytes = 0;
    std::uint64_t leased_batches = 0;
    std::optional<double> oldest_enqueued;  // of the first-stored reading still held
    std::optional<double> newest_enqueued;  // of the last-stored one
    std::optional<double> oldest_batch_created;
    std::vector<inspected_device> devices;  // by device id
    std::uint64_t gap_records = 0;          // gap records not yet leased
    std::uint64_t leased_gap_messages = 0;  // gap leases not yet acknowledged
    drop_counts gap_readings;               // readings dropped in the gap records held, by reason
    drop_counts drops_total;                // readings dropped since the store file was made

    bool operator==(const store_inspection&) const = default;
};

}  // namespace fogbridge
