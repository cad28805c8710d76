// The sink's tables in PostgreSQL: created and migrated at start-up under a version table, and
// the audit query over them. Not thread-safe (one connection).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pg.hpp"

namespace fogbridge::sink {

constexpr int schema_version = 1;

// Creates or migrates the schema to schema_version inside one transaction under an advisory
// lock (several sinks may start at once). Throws std::runtime_error when the database holds a
// newer version than this sink knows, pg_error when the database fails.
void migrate(pg_connection& db, const std::string& schema);

struct missing_run {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

struct audit_report {
    std::uint64_t delivered = 0;  // reading rows
    std::uint64_t dropped = 0;    // seqs in gap records' dropped runs
    std::uint64_t missing = 0;    // seqs in missing runs
    std::uint64_t devices = 0;    // (device, boot) pairs seen
    std::vector<missing_run> runs;
};

// What the <schema>.missing view lists, with totals.
audit_report audit(pg_connection& db, const std::string& schema);

}  // namespace fogbridge::sink
