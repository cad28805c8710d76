// The store's prepared statements (struct statements, store_impl.hpp): every SQL it runs after
// opening. Not thread-safe by itself: store holds its mutex around all use.
#include <fmt/format.h>

#include <string>

#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

// One INSERT of `rows` readings: ?1 is `enqueued` (the same for the whole commit), then 10
// parameters per row. A re-send of a reading still held is skipped by the unique index.
std::string insert_sql(std::size_t rows) {
    std::string sql =
        "INSERT INTO readings(id, device, boot, seq, sensor, value, unit, ts, bytes, ts_gw, "
        "enqueued) "
        "VALUES";
    for (std::size_t k = 0; k < rows; ++k) {
        const std::size_t p = 2 + k * insert_params_per_row;
        sql += fmt::format("{}(?{},?{},?{},?{},?{},?{},?{},?{},?{},?{},?1)", k == 0 ? "" : ",", p,
                           p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9);
    }
    sql += " ON CONFLICT(device, boot, seq) DO NOTHING";
    return sql;
}

}  // namespace

statements::statements(sqlite::database& db)
    : begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      rollback(db, "ROLLBACK"),
      insert_device(db, "INSERT INTO devices(id, name) VALUES(?1, ?2)"),
      ids_between(db, "SELECT id FROM readings WHERE id BETWEEN ?1 AND ?2"),
      upsert_progress(db,
                      "INSERT INTO progress(device, boot, processed, covered, touched) "
                      "VALUES(?1, ?2, ?3, 0, ?4) ON CONFLICT(device, boot) "
                      "DO UPDATE SET processed = max(processed, excluded.processed), "
                      "touched = excluded.touched RETURNING processed, covered"),
      upsert_filter_state(db,
                          "INSERT INTO filter_state(device, sensor, state) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(device, sensor) DO UPDATE SET state = excluded.state"),
      all_progress(db, "SELECT device, boot, processed FROM progress ORDER BY device, boot"),
      all_filter_states(db,
                        "SELECT device, sensor, state FROM filter_state ORDER BY device, sensor"),
      pending_readings(db,
                       "SELECT id, device, boot, seq, sensor, value, unit, ts, bytes, enqueued, "
                       "ts_gw FROM readings WHERE id > ?1 AND id <= ?2 ORDER BY id"),
      next_batch_counter(db,
                         "UPDATE meta SET value = value + 1 WHERE key = 'batch_counter' "
                         "RETURNING value"),
      set_leased_upto(db, "UPDATE meta SET value = ?1 WHERE key = 'leased_upto'"),
      set_backlog_end(db, "UPDATE meta SET value = ?1 WHERE key = 'backlog_end'"),
      progress_of(db,
                  "SELECT processed, covered, gap_hi FROM progress WHERE device = ?1 AND "
                  "boot = ?2"),
      ahead_of(db, "SELECT first, last FROM ahead WHERE device = ?1 AND boot = ?2 ORDER BY first"),
      pending_seqs_from(db,
                        "SELECT seq, id FROM readings INDEXED BY readings_series "
                        "WHERE device = (SELECT id FROM devices WHERE name = ?1) AND boot = ?2 "
                        "AND seq >= ?3 AND id > ?4 "
                        "ORDER BY seq"),
      raise_covered(db,
                    "INSERT INTO progress(device, boot, processed, covered, touched) "
                    "VALUES(?1, ?2, 0, ?3, ?4) ON CONFLICT(device, boot) DO UPDATE SET "
                    "covered = max(covered, excluded.covered), touched = excluded.touched"),
      delete_series_ahead(db, "DELETE FROM ahead WHERE device = ?1 AND boot = ?2"),
      insert_ahead(db,
                   "INSERT OR REPLACE INTO ahead(device, boot, first, last) "
                   "VALUES(?1, ?2, ?3, ?4)"),
      insert_batch(db,
                   "INSERT INTO batches(ord, batch_id, created, first_id, last_id, bytes, ranges, "
                   "replay) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
      all_batches(db,
                  "SELECT ord, batch_id, created, first_id, last_id, ranges, replay FROM batches "
                  "ORDER BY ord"),
      batch_readings(db,
                     "SELECT device, boot, seq, sensor, value, unit, ts, enqueued, ts_gw "
                     "FROM readings WHERE id BETWEEN ?1 AND ?2 ORDER BY id"),
      find_batch(db, "SELECT ord, first_id, last_id, bytes FROM batches WHERE batch_id = ?1"),
      delete_batch_readings(db, "DELETE FROM readings WHERE id BETWEEN ?1 AND ?2"),
      delete_batch(db, "DELETE FROM batches WHERE ord = ?1"),
      oldest_enqueued(db, "SELECT enqueued FROM readings ORDER BY id LIMIT 1"),
      first_enqueued_in(db,
                        "SELECT enqueued FROM readings WHERE id > ?1 AND id <= ?2 ORDER BY id "
                        "LIMIT 1"),
      drop_candidates(db,
                      "SELECT id, device, boot, seq, ts, bytes, enqueued FROM readings "
                      "WHERE id > ?1 AND id <= ?2 ORDER BY id"),
      delete_pending_upto(db, "DELETE FROM readings WHERE id > ?1 AND id <= ?2"),
      ahead_before(db,
                   "SELECT first, last FROM ahead WHERE device = ?1 AND boot = ?2 AND first < ?3 "
                   "ORDER BY first DESC LIMIT 1"),
      ahead_from(db,
                 "SELECT first, last FROM ahead WHERE device = ?1 AND boot = ?2 AND first >= ?3 "
                 "AND first <= ?4 ORDER BY first"),
      delete_ahead_run(db, "DELETE FROM ahead WHERE device = ?1 AND boot = ?2 AND first = ?3"),
      pending_seqs_between(db,
                           "SELECT seq, id FROM readings INDEXED BY readings_series "
                           "WHERE device = (SELECT id FROM devices WHERE name = ?1) AND boot = ?2 "
                           "AND seq > ?3 AND seq < ?4 AND id > ?5 ORDER BY seq"),
      open_gap(db,
               "SELECT id, device, boot, reason, first_seq, last_seq, count, dropped, first_ts, "
               "last_ts, created FROM gaps INDEXED BY gaps_series "
               "WHERE device = ?1 AND boot = ?2 AND last_seq = ?3 AND id > ?4"),
      upsert_gap(db,
                 "INSERT INTO gaps(id, device, boot, reason, first_seq, last_seq, count, dropped, "
                 "first_ts, last_ts, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                 "ON CONFLICT(id) DO UPDATE SET last_seq = excluded.last_seq, "
                 "count = excluded.count, dropped = excluded.dropped, last_ts = excluded.last_ts"),
      raise_gap_hi(db,
                   "INSERT INTO progress(device, boot, processed, covered, gap_hi) "
                   "VALUES(?1, ?2, 0, 0, ?3) ON CONFLICT(device, boot) DO UPDATE SET "
                   "gap_hi = max(gap_hi, excluded.gap_hi)"),
      add_drops(db, "UPDATE meta SET value = value + ?2 WHERE key = ?1"),
      pending_gaps(db,
                   "SELECT id, device, boot, reason, first_seq, last_seq, count, dropped, "
                   "first_ts, last_ts, created FROM gaps WHERE id > ?1 ORDER BY id LIMIT ?2"),
      next_gap_counter(db,
                       "UPDATE meta SET value = value + 1 WHERE key = 'gap_counter' "
                       "RETURNING value"),
      set_gaps_leased_upto(db, "UPDATE meta SET value = ?1 WHERE key = 'gaps_leased_upto'"),
      insert_gap_lease(db,
                       "INSERT INTO gap_leases(ord, gap_id, created, first_id, last_id) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)"),
      all_gap_leases(db,
                     "SELECT ord, gap_id, created, first_id, last_id FROM gap_leases "
                     "ORDER BY ord"),
      gaps_between(db,
                   "SELECT id, device, boot, reason, first_seq, last_seq, count, dropped, "
                   "first_ts, last_ts, created FROM gaps WHERE id BETWEEN ?1 AND ?2 ORDER BY id"),
      find_gap_lease(db, "SELECT ord, first_id, last_id FROM gap_leases WHERE gap_id = ?1"),
      delete_gaps_between(db, "DELETE FROM gaps WHERE id BETWEEN ?1 AND ?2"),
      delete_gap_lease(db, "DELETE FROM gap_leases WHERE ord = ?1"),
      oldest_gap(db, "SELECT created FROM gaps WHERE id > ?1 ORDER BY id LIMIT 1"),
      device_candidates(db,
                        "SELECT id, device, boot, seq, ts, bytes, enqueued FROM readings "
                        "INDEXED BY readings_device WHERE device = ?1 AND id > ?2 AND id < ?3 "
                        "ORDER BY id"),
      delete_reading(db, "DELETE FROM readings WHERE id = ?1"),
      held_in_ids(db,
                  "SELECT device, count(*), total(bytes) FROM readings WHERE id BETWEEN ?1 AND ?2 "
                  "GROUP BY device"),
      prunable(db, "SELECT device, boot FROM progress WHERE covered >= processed AND touched < ?1"),
      series_holds(db,
                   "SELECT 1 FROM readings INDEXED BY readings_series "
                   "WHERE device = (SELECT id FROM devices WHERE name = ?1) AND boot = ?2 "
                   "LIMIT 1"),
      delete_progress(db, "DELETE FROM progress WHERE device = ?1 AND boot = ?2") {
    for (std::size_t rows = 1; rows <= max_insert_rows; rows *= 2) {
        insert_readings.push_back(std::make_unique<sqlite::statement>(db, insert_sql(rows)));
    }
}

}  // namespace fogbridge
