// The `fogbridge --queue` subcommand: the store's figures (store::inspect, read-only, safe while
// the gateway runs) as text or JSON. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <ostream>

#include "store/inspection.hpp"

namespace fogbridge {

// `now` is the wall time (seconds since the epoch) that ages are measured from; `path` is the
// store file the figures were read from.
void write_queue_text(const std::filesystem::path& path, const store_inspection& r, double now,
                      std::ostream& out);
void write_queue_json(const std::filesystem::path& path, const store_inspection& r, double now,
                      std::ostream& out);

// Where the subcommand writes: the report, and the one line of a failure.
struct report_streams {
    std::ostream& out;
    std::ostream& err;
};

// The subcommand: 0 on success; 1 with one line on `err` when the store cannot be read.
int run_queue_report(const std::filesystem::path& db, bool json, const report_streams& to,
                     double now);
// The same, with std::cerr and the system clock.
int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out);

}  // namespace fogbridge
