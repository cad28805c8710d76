#include "store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "batch/batch.hpp"
#include "store/ranges_json.hpp"
#include "store/schema.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// SQLite integers are signed 64-bit and it stores NaN as NULL: refuse what would not round-trip.
void check_storable(const commit_set& set) {
    for (const reading& r : set.readings) {
        if (r.boot > int64_max || r.seq > int64_max || std::isnan(r.value) || std::isnan(r.ts)) {
            throw store_error(store_errc::invalid_input,
                              fmt::format("reading {}/{}/{} cannot be stored (boot and seq must "
                                          "be below 2^63, value and ts not NaN)",
                                          r.device, r.boot, r.seq));
        }
    }
    for (const progress_update& p : set.progress) {
        if (p.boot > int64_max || p.processed > int64_max) {
            throw store_error(
                store_errc::invalid_input,
                fmt::format("progress {}/{} cannot be stored (above 2^63)", p.device, p.boot));
        }
    }
}

auto as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }
auto as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

}  // namespace

statements::statements(sqlite::database& db)
    : begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      rollback(db, "ROLLBACK"),
      insert_reading(db,
                     "INSERT INTO readings(device, boot, seq, sensor, value, unit, ts, bytes, "
                     "enqueued, id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                     "ON CONFLICT(device, boot, seq) DO NOTHING"),
      upsert_progress(db,
                      "INSERT INTO progress(device, boot, processed, covered) "
                      "VALUES(?1, ?2, ?3, 0) ON CONFLICT(device, boot) "
                      "DO UPDATE SET processed = max(processed, excluded.processed) "
                      "RETURNING processed, covered"),
      upsert_filter_state(db,
                          "INSERT INTO filter_state(device, sensor, state) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(device, sensor) DO UPDATE SET state = excluded.state"),
      all_progress(db, "SELECT device, boot, processed FROM progress ORDER BY device, boot"),
      all_filter_states(db,
                        "SELECT device, sensor, state FROM filter_state ORDER BY device, sensor"),
      pending_readings(db,
                       "SELECT id, device, boot, seq, sensor, value, unit, ts, bytes, enqueued "
                       "FROM readings WHERE id > ?1 ORDER BY id"),
      next_batch_counter(db,
                         "UPDATE meta SET value = value + 1 WHERE key = 'batch_counter' "
                         "RETURNING value"),
      set_leased_upto(db, "UPDATE meta SET value = ?1 WHERE key = 'leased_upto'"),
      progress_of(db, "SELECT processed, covered FROM progress WHERE device = ?1 AND boot = ?2"),
      ahead_of(db, "SELECT seq FROM ahead WHERE device = ?1 AND boot = ?2 ORDER BY seq"),
      pending_seqs_from(db,
                        "SELECT seq FROM readings INDEXED BY readings_series "
                        "WHERE device = ?1 AND boot = ?2 AND seq >= ?3 AND id > ?4 "
                        "ORDER BY seq"),
      raise_covered(db,
                    "INSERT INTO progress(device, boot, processed, covered) VALUES(?1, ?2, 0, ?3) "
                    "ON CONFLICT(device, boot) DO UPDATE SET covered = max(covered, "
                    "excluded.covered)"),
      drop_ahead_upto(db, "DELETE FROM ahead WHERE device = ?1 AND boot = ?2 AND seq <= ?3"),
      insert_ahead(db, "INSERT OR IGNORE INTO ahead(device, boot, seq) VALUES(?1, ?2, ?3)"),
      insert_batch(db,
                   "INSERT INTO batches(ord, batch_id, created, first_id, last_id, ranges) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
      all_batches(db,
                  "SELECT ord, batch_id, created, first_id, last_id, ranges FROM batches "
                  "ORDER BY ord"),
      batch_readings(db,
                     "SELECT device, boot, seq, sensor, value, unit, ts, enqueued FROM readings "
                     "WHERE id BETWEEN ?1 AND ?2 ORDER BY id"),
      find_batch(db, "SELECT ord, first_id, last_id FROM batches WHERE batch_id = ?1"),
      delete_batch_readings(db, "DELETE FROM readings WHERE id BETWEEN ?1 AND ?2"),
      delete_batch(db, "DELETE FROM batches WHERE ord = ?1"),
      oldest_enqueued(db, "SELECT enqueued FROM readings ORDER BY id LIMIT 1") {}

store::impl::impl(const store_settings& settings)
    : db(settings.path), epoch(schema::prepare(db, settings.synchronous)), st(db) {
    load_counters();
}

void store::impl::load_counters() {
    sqlite::statement upto(db, "SELECT value FROM meta WHERE key = 'leased_upto'");
    if (!upto.step()) {
        throw store_error(store_errc::corrupt, "meta.leased_upto is missing");
    }
    leased_upto = upto.column_int(0);
    sqlite::statement by_state(db,
                               "SELECT id > ?1, count(*), total(bytes), max(id) FROM readings "
                               "GROUP BY id > ?1");
    by_state.bind_int(1, leased_upto);
    next_id = leased_upto + 1;
    while (by_state.step()) {
        const auto count = as_size(by_state.column_int(1));
        if (by_state.column_int(0) != 0) {
            counters.pending_readings = count;
            counters.pending_bytes = static_cast<std::size_t>(by_state.column_double(2));
        } else {
            counters.leased_readings = count;
        }
        next_id = std::max(next_id, by_state.column_int(3) + 1);
    }
    sqlite::statement batches(db, "SELECT count(*) FROM batches");
    batches.step();
    counters.leased_batches = as_size(batches.column_int(0));
    sqlite::statement open(db, "SELECT device, boot FROM progress WHERE processed > covered");
    while (open.step()) {
        uncovered.emplace(std::string(open.column_text(0)), as_uint(open.column_int(1)));
    }
    refresh_oldest();
}

void store::impl::refresh_oldest() {
    const sqlite::reset_on_exit guard(st.oldest_enqueued);
    counters.oldest_enqueued.reset();
    if (st.oldest_enqueued.step()) {
        counters.oldest_enqueued = st.oldest_enqueued.column_double(0);
    }
}

store::store(const store_settings& settings) {
    try {
        impl_ = std::make_unique<impl>(settings);
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("store {}: {}", settings.path.string(), e.what()));
    }
}

store::~store() = default;

commit_result store::commit(const commit_set& set) {
    if (set.readings.empty() && set.progress.empty() && set.filter_states.empty()) {
        return {};
    }
    check_storable(set);
    std::vector<std::size_t> sizes;
    sizes.reserve(set.readings.size());
    for (const reading& r : set.readings) {
        sizes.push_back(encoded_size(r));
    }

    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    commit_result result;
    std::size_t inserted_bytes = 0;
    std::vector<series_key> now_uncovered;
    // Ids are taken only once the commit succeeds; a rolled back one may use them again.
    std::int64_t next_id = impl_->next_id;
    sqlite::transaction tx(st.begin, st.commit, st.rollback);
    {
        const sqlite::reset_on_exit guard(st.insert_reading);
        for (std::size_t i = 0; i < set.readings.size(); ++i) {
            const reading& r = set.readings[i];
            st.insert_reading.bind_text(1, r.device);
            st.insert_reading.bind_int(2, as_int(r.boot));
            st.insert_reading.bind_int(3, as_int(r.seq));
            st.insert_reading.bind_text(4, r.sensor);
            st.insert_reading.bind_double(5, r.value);
            st.insert_reading.bind_text(6, r.unit);
            st.insert_reading.bind_double(7, r.ts);
            st.insert_reading.bind_int(8, static_cast<std::int64_t>(sizes[i]));
            st.insert_reading.bind_double(9, set.now);
            st.insert_reading.bind_int(10, next_id);
            st.insert_reading.run();
            st.insert_reading.reset();
            if (impl_->db.changes() == 1) {
                ++next_id;
                ++result.inserted;
                inserted_bytes += sizes[i];
            } else {
                ++result.duplicates;
            }
        }
    }
    {
        const sqlite::reset_on_exit guard(st.upsert_progress);
        for (const progress_update& p : set.progress) {
            st.upsert_progress.bind_text(1, p.device);
            st.upsert_progress.bind_int(2, as_int(p.boot));
            st.upsert_progress.bind_int(3, as_int(p.processed));
            if (st.upsert_progress.step() &&
                st.upsert_progress.column_int(0) > st.upsert_progress.column_int(1)) {
                now_uncovered.emplace_back(p.device, p.boot);
            }
            while (st.upsert_progress.step()) {
            }
            st.upsert_progress.reset();
        }
    }
    {
        const sqlite::reset_on_exit guard(st.upsert_filter_state);
        for (const filter_state_row& f : set.filter_states) {
            st.upsert_filter_state.bind_text(1, f.device);
            st.upsert_filter_state.bind_text(2, f.sensor);
            st.upsert_filter_state.bind_text(3, f.state);
            st.upsert_filter_state.run();
            st.upsert_filter_state.reset();
        }
    }
    tx.commit();

    impl_->next_id = next_id;
    queue_stats& c = impl_->counters;
    c.pending_readings += result.inserted;
    c.pending_bytes += inserted_bytes;
    if (!c.oldest_enqueued && result.inserted > 0) {
        c.oldest_enqueued = set.now;
    }
    for (series_key& key : now_uncovered) {
        impl_->uncovered.insert(std::move(key));
    }
    return result;
}

std::vector<progress_update> store::load_progress() {
    const std::scoped_lock lock(impl_->mutex);
    sqlite::statement& s = impl_->st.all_progress;
    const sqlite::reset_on_exit guard(s);
    std::vector<progress_update> out;
    while (s.step()) {
        out.push_back(
            {std::string(s.column_text(0)), as_uint(s.column_int(1)), as_uint(s.column_int(2))});
    }
    return out;
}

std::vector<filter_state_row> store::load_filter_states() {
    const std::scoped_lock lock(impl_->mutex);
    sqlite::statement& s = impl_->st.all_filter_states;
    const sqlite::reset_on_exit guard(s);
    std::vector<filter_state_row> out;
    while (s.step()) {
        out.push_back({std::string(s.column_text(0)), std::string(s.column_text(1)),
                       std::string(s.column_text(2))});
    }
    return out;
}

std::optional<lease> store::lease_batch(std::size_t max_readings, std::size_t max_bytes,
                                        double now) {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->lease_batch(max_readings, max_bytes, now);
}

std::vector<lease> store::leased_batches() {
    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    const sqlite::reset_on_exit guard(st.all_batches);
    std::vector<lease> out;
    while (st.all_batches.step()) {
        lease l;
        l.batch_id = st.all_batches.column_text(1);
        l.created = st.all_batches.column_double(2);
        l.ranges = decode_ranges(st.all_batches.column_text(5));
        const sqlite::reset_on_exit readings_guard(st.batch_readings);
        st.batch_readings.bind_int(1, st.all_batches.column_int(3));
        st.batch_readings.bind_int(2, st.all_batches.column_int(4));
        while (st.batch_readings.step()) {
            stored_reading sr;
            sr.r.device = st.batch_readings.column_text(0);
            sr.r.boot = as_uint(st.batch_readings.column_int(1));
            sr.r.seq = as_uint(st.batch_readings.column_int(2));
            sr.r.sensor = st.batch_readings.column_text(3);
            sr.r.value = st.batch_readings.column_double(4);
            sr.r.unit = st.batch_readings.column_text(5);
            sr.r.ts = st.batch_readings.column_double(6);
            sr.enqueued = st.batch_readings.column_double(7);
            l.readings.push_back(std::move(sr));
        }
        out.push_back(std::move(l));
    }
    return out;
}

bool store::ack_batch(const std::string& batch_id) {
    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    sqlite::transaction tx(st.begin, st.commit, st.rollback);
    std::int64_t ord = 0;
    std::int64_t first_id = 0;
    std::int64_t last_id = 0;
    {
        const sqlite::reset_on_exit guard(st.find_batch);
        st.find_batch.bind_text(1, batch_id);
        if (!st.find_batch.step()) {
            return false;
        }
        ord = st.find_batch.column_int(0);
        first_id = st.find_batch.column_int(1);
        last_id = st.find_batch.column_int(2);
    }
    std::size_t deleted = 0;
    {
        const sqlite::reset_on_exit guard(st.delete_batch_readings);
        st.delete_batch_readings.bind_int(1, first_id);
        st.delete_batch_readings.bind_int(2, last_id);
        st.delete_batch_readings.run();
        deleted = as_size(impl_->db.changes());
    }
    {
        const sqlite::reset_on_exit guard(st.delete_batch);
        st.delete_batch.bind_int(1, ord);
        st.delete_batch.run();
    }
    tx.commit();

    queue_stats& c = impl_->counters;
    c.leased_batches -= 1;
    c.leased_readings -= deleted;
    try {
        impl_->refresh_oldest();
    } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the ack itself is done;
    }                               // the figure is refreshed again by the next ack

    return true;
}

queue_stats store::stats() {
    const std::scoped_lock lock(impl_->mutex);
    queue_stats out = impl_->counters;
    out.uncovered = !impl_->uncovered.empty();
    return out;
}

std::string store::epoch() {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->epoch;
}

}  // namespace fogbridge
