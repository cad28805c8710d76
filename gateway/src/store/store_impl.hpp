// Internals of fogbridge::store shared by its source files: the connection, the prepared
// statements and the counters. Not thread-safe by itself: store holds `mutex` around all use.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace fogbridge {

using series_key = std::pair<std::string, std::uint64_t>;  // (device, boot)

// Every statement the store runs after opening, prepared once.
struct statements {
    explicit statements(sqlite::database& db);

    sqlite::statement begin, commit, rollback;
    sqlite::statement insert_reading, upsert_progress, upsert_filter_state;
    sqlite::statement all_progress, all_filter_states;
    sqlite::statement pending_readings, next_batch_counter, set_leased_upto;
    sqlite::statement progress_of, ahead_of, pending_seqs_from;
    sqlite::statement raise_covered, drop_ahead_upto, insert_ahead, insert_batch;
    sqlite::statement all_batches, batch_readings, find_batch, delete_batch_readings, delete_batch;
    sqlite::statement oldest_enqueued;
};

struct store::impl {
    explicit impl(const store_settings& settings);

    std::optional<lease> lease_batch(std::size_t max_readings, std::size_t max_bytes, double now);
    void load_counters();
    void refresh_oldest();

    std::mutex mutex;
    sqlite::database db;
    std::string epoch;
    statements st;
    std::int64_t leased_upto = 0;  // readings with a higher id are pending (meta.leased_upto)
    std::int64_t next_id = 1;      // above every id ever used, so ids are never reused
    queue_stats counters;
    std::set<series_key> uncovered;  // progress rows with processed > covered
};

}  // namespace fogbridge
