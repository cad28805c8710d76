// The `fogbridge queue` subcommand: reads the store's SQLite file read-only (safe while the
// gateway runs, thanks to WAL) and reports depth, age and per-device figures as text or JSON.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace fogbridge {

// One (device, boot): what the store holds of it and how far the gateway has processed it.
struct boot_report {
    std::uint64_t boot = 0;
    std::optional<std::uint64_t> processed;  // highest contiguous seq processed (progress table)
    std::optional<std::uint64_t> covered;    // seqs accounted for upstream by a batch
    std::uint64_t readings = 0;              // held: pending or in a leased batch
    std::uint64_t leased_readings = 0;       // of which in a leased batch
    std::optional<std::uint64_t> first_seq;  // lowest and highest seq held
    std::optional<std::uint64_t> last_seq;
    std::optional<double> oldest_enqueued;  // seconds since the epoch

    bool operator==(const boot_report&) const = default;
};

struct device_report {
    std::string device;
    std::uint64_t readings = 0;
    std::uint64_t leased_readings = 0;
    std::uint64_t bytes = 0;
    std::optional<double> oldest_enqueued;
    std::vector<boot_report> boots;  // by boot

    bool operator==(const device_report&) const = default;
};

struct queue_report {
    std::string path;
    std::int64_t schema_version = 0;
    std::uint64_t readings = 0;          // held: pending + leased
    std::uint64_t pending_readings = 0;  // not yet in a batch
    std::uint64_t leased_readings = 0;
    std::uint64_t bytes = 0;          // JSON size estimate of every held reading
    std::uint64_t pending_bytes = 0;  // of the pending ones (the health payload's queue.bytes)
    std::uint64_t leased_batches = 0;
    std::optional<double> oldest_enqueued;       // of the first-stored reading still held
    std::optional<double> oldest_batch_created;  // of the oldest unacknowledged batch
    std::vector<device_report> devices;          // by device id

    bool operator==(const queue_report&) const = default;
};

struct queue_report_result {
    std::optional<queue_report> report;
    std::string error;  // one line, when report is empty
};

// Opens `db` with SQLITE_OPEN_READONLY and reads everything in one read transaction. Uses only
// the meta, readings, batches and progress tables; extra tables and columns are ignored.
queue_report_result read_queue_report(const std::filesystem::path& db);

// `now` is the wall time (seconds since the epoch) that ages are measured from.
void write_queue_text(const queue_report& r, double now, std::ostream& out);
void write_queue_json(const queue_report& r, double now, std::ostream& out);

// The subcommand: 0 on success; 1 with one line on `err` when the store cannot be read.
int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out,
                     std::ostream& err, double now);
// The same, with std::cerr and the system clock.
int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out);

}  // namespace fogbridge
