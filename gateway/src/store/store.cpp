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

// One INSERT of `rows` readings: ?1 is `enqueued` (the same for the whole commit), then 9
// parameters per row. A re-send of a reading still held is skipped by the unique index.
std::string insert_sql(std::size_t rows) {
    std::string sql =
        "INSERT INTO readings(id, device, boot, seq, sensor, value, unit, ts, bytes, enqueued) "
        "VALUES";
    for (std::size_t k = 0; k < rows; ++k) {
        const std::size_t p = 2 + k * insert_params_per_row;
        sql += fmt::format("{}(?{},?{},?{},?{},?{},?{},?{},?{},?{},?1)", k == 0 ? "" : ",", p,
                           p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8);
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
                       "SELECT id, device, boot, seq, sensor, value, unit, ts, bytes, enqueued "
                       "FROM readings WHERE id > ?1 AND id <= ?2 ORDER BY id"),
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
                     "SELECT device, boot, seq, sensor, value, unit, ts, enqueued FROM readings "
                     "WHERE id BETWEEN ?1 AND ?2 ORDER BY id"),
      find_batch(db, "SELECT ord, first_id, last_id, bytes FROM batches WHERE batch_id = ?1"),
      delete_batch_readings(db, "DELETE FROM readings WHERE id BETWEEN ?1 AND ?2"),
      delete_batch(db, "DELETE FROM batches WHERE ord = ?1"),
      oldest_enqueued(db, "SELECT enqueued FROM readings ORDER BY id LIMIT 1"),
      first_enqueued_in(db,
                        "SELECT enqueued FROM readings WHERE id > ?1 AND id <= ?2 ORDER BY id "
                        "LIMIT 1"),
      count_in(db, "SELECT count(*), total(bytes) FROM readings WHERE id > ?1 AND id <= ?2"),
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

store::impl::impl(const store_settings& s)
    : settings(s), db(s.path), epoch(schema::prepare(db, s.synchronous)), st(db) {
    sync_now = s.synchronous;
    load_counters();
}

sqlite::transaction store::impl::begin(durability d) {
    reopen_if_failed();
    const sync_mode want = d == durability::relaxed ? sync_mode::normal : settings.synchronous;
    if (sync_now != want) {
        // Not a prepared statement: SQLite applies this pragma when it is prepared.
        sync_now.reset();  // unknown until it succeeds
        db.exec(want == sync_mode::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        sync_now = want;
    }
    return sqlite::transaction(st.begin, st.commit, st.rollback);
}

namespace {

std::int64_t meta_int(sqlite::database& db, const std::string& key) {
    sqlite::statement s(db, "SELECT value FROM meta WHERE key = ?1");
    s.bind_text(1, key);
    if (!s.step()) {
        throw store_error(store_errc::corrupt, fmt::format("meta.{} is missing", key));
    }
    return s.column_int(0);
}

std::int64_t one_int(sqlite::database& db, const char* sql) {
    sqlite::statement s(db, sql);
    return s.step() ? s.column_int(0) : 0;
}

}  // namespace

void store::impl::load_counters() {
    load_devices();
    lanes.leased_upto = meta_int(db, "leased_upto");
    lanes.backlog_end = meta_int(db, "backlog_end");
    {
        sqlite::statement ranges(db, "SELECT first_id, last_id FROM batches");
        while (ranges.step()) {
            lanes.add({ranges.column_int(0), ranges.column_int(1)});
        }
    }
    next_id = std::max({lanes.leased_upto, lanes.backlog_end,
                        one_int(db, "SELECT max(id) FROM readings")}) +
              1;
    constexpr std::int64_t all = std::numeric_limits<std::int64_t>::max();
    for (const id_range& r : lanes.leased) {
        const auto [count, bytes] = count_rows(r.first - 1, r.last);
        counters.leased_readings += count;
        counters.leased_bytes += bytes;
    }
    for (const id_span& span : lanes.pending_spans(lanes.leased_upto, all)) {
        const auto [count, bytes] = count_rows(span.lo, span.hi);
        counters.pending_readings += count;
        counters.pending_bytes += bytes;
    }
    for (const id_span& span : lanes.pending_spans(lanes.leased_upto, lanes.backlog_end)) {
        const auto [count, bytes] = count_rows(span.lo, span.hi);
        counters.backlog_readings += count;
        counters.backlog_bytes += bytes;
    }
    counters.leased_batches = as_size(one_int(db, "SELECT count(*) FROM batches"));
    sqlite::statement open(db, "SELECT device, boot FROM progress WHERE processed > covered");
    while (open.step()) {
        uncovered.emplace(std::string(open.column_text(0)), as_uint(open.column_int(1)));
    }

    gaps_leased_upto = meta_int(db, "gaps_leased_upto");
    next_gap_id = std::max(gaps_leased_upto, one_int(db, "SELECT max(id) FROM gaps")) + 1;
    sqlite::statement unleased(db, "SELECT count(*) FROM gaps WHERE id > ?1");
    unleased.bind_int(1, gaps_leased_upto);
    unleased.step();
    counters.gap_records = as_size(unleased.column_int(0));
    counters.leased_gap_messages = as_size(one_int(db, "SELECT count(*) FROM gap_leases"));
    for (const drop_reason r : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                                drop_reason::disk_low, drop_reason::ttl}) {
        counters.drops_total[r] = as_uint(meta_int(db, fmt::format("drops_{}", to_string(r))));
    }
    counters.drops_total[drop_reason::store_lost] = lost_total();
    refresh_oldest();
    static_cast<void>(disk_free_after(0, 0));  // the figure for stats(); commits measure again
    disk_measured_at.reset();
}

std::pair<std::size_t, std::size_t> store::impl::count_rows(std::int64_t lo, std::int64_t hi) {
    const sqlite::reset_on_exit guard(st.count_in);
    st.count_in.bind_int(1, lo);
    st.count_in.bind_int(2, hi);
    st.count_in.step();
    return {as_size(st.count_in.column_int(0)),
            static_cast<std::size_t>(st.count_in.column_double(1))};
}

std::optional<double> store::impl::first_pending_enqueued(std::int64_t from) {
    for (const id_span& span :
         lanes.pending_spans(from, std::numeric_limits<std::int64_t>::max())) {
        const sqlite::reset_on_exit guard(st.first_enqueued_in);
        st.first_enqueued_in.bind_int(1, span.lo);
        st.first_enqueued_in.bind_int(2, span.hi);
        if (st.first_enqueued_in.step()) {
            return st.first_enqueued_in.column_double(0);
        }
    }
    return std::nullopt;
}

void store::impl::refresh_oldest() {
    {
        const sqlite::reset_on_exit guard(st.oldest_enqueued);
        counters.oldest_enqueued.reset();
        if (st.oldest_enqueued.step()) {
            counters.oldest_enqueued = st.oldest_enqueued.column_double(0);
        }
    }
    counters.oldest_pending = first_pending_enqueued(lanes.leased_upto);
    counters.oldest_live = counters.backlog_readings == 0
                               ? counters.oldest_pending
                               : first_pending_enqueued(lanes.backlog_end);
    const sqlite::reset_on_exit guard(st.oldest_gap);
    st.oldest_gap.bind_int(1, gaps_leased_upto);
    counters.oldest_gap.reset();
    if (st.oldest_gap.step()) {
        counters.oldest_gap = st.oldest_gap.column_double(0);
    }
}

void bind_series(sqlite::statement& s, const series_key& key) {
    s.bind_text(1, key.first);
    s.bind_int(2, static_cast<std::int64_t>(key.second));
}

std::string_view to_string(drop_reason reason) {
    switch (reason) {
        case drop_reason::store_full_bytes:
            return "store_full_bytes";
        case drop_reason::store_full_rows:
            return "store_full_rows";
        case drop_reason::disk_low:
            return "disk_low";
        case drop_reason::ttl:
            return "ttl";
        case drop_reason::store_lost:
            return "store_lost";
    }
    return "unknown";
}

std::optional<drop_reason> drop_reason_from(std::string_view name) {
    for (const drop_reason r : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                                drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        if (to_string(r) == name) {
            return r;
        }
    }
    return std::nullopt;
}

namespace {

// One switch for the const and the mutable operator[].
template <typename counts>
auto& count_of(counts& c, drop_reason reason) {
    switch (reason) {
        case drop_reason::store_full_bytes:
            return c.store_full_bytes;
        case drop_reason::store_full_rows:
            return c.store_full_rows;
        case drop_reason::disk_low:
            return c.disk_low;
        case drop_reason::store_lost:
            return c.store_lost;
        case drop_reason::ttl:
            break;
    }
    return c.ttl;
}

}  // namespace

std::uint64_t& drop_counts::operator[](drop_reason reason) { return count_of(*this, reason); }

std::uint64_t drop_counts::operator[](drop_reason reason) const { return count_of(*this, reason); }

std::uint64_t drop_counts::total() const {
    return store_full_bytes + store_full_rows + disk_low + ttl + store_lost;
}

store::store(const store_settings& settings) {
    try {
        impl_ = std::make_unique<impl>(settings);
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("store {}: {}", settings.path.string(), e.what()));
    }
}

store::~store() = default;

namespace {

struct inserted_readings {
    std::size_t inserted = 0;
    std::size_t duplicates = 0;
    std::size_t bytes = 0;
};

// Inserts readings[first, first + rows) with ids next_id.. in one statement; a duplicate leaves
// its id unused (ids need not be dense, only never reused).
void insert_chunk(sqlite::database& db, statements& st, const commit_set& set,
                  const std::vector<std::size_t>& sizes, const std::vector<std::int64_t>& devices,
                  std::size_t first, std::size_t rows, std::int64_t next_id,
                  inserted_readings& out) {
    std::size_t which = 0;
    while ((std::size_t{2} << which) <= rows) {
        ++which;
    }
    sqlite::statement& s = *st.insert_readings.at(which);
    const sqlite::reset_on_exit guard(s);
    s.bind_double(1, set.now);
    for (std::size_t k = 0; k < rows; ++k) {
        const reading& r = set.readings[first + k];
        const int p = 2 + static_cast<int>(k) * insert_params_per_row;
        s.bind_int(p, next_id + static_cast<std::int64_t>(k));
        s.bind_int(p + 1, devices[first + k]);
        s.bind_int(p + 2, as_int(r.boot));
        s.bind_int(p + 3, as_int(r.seq));
        s.bind_text(p + 4, r.sensor);
        s.bind_double(p + 5, r.value);
        s.bind_text(p + 6, r.unit);
        s.bind_double(p + 7, r.ts);
        s.bind_int(p + 8, static_cast<std::int64_t>(sizes[first + k]));
    }
    s.run();
    const auto inserted = as_size(db.changes());
    out.inserted += inserted;
    out.duplicates += rows - inserted;
    if (inserted == rows) {
        for (std::size_t k = 0; k < rows; ++k) {
            out.bytes += sizes[first + k];
        }
        return;
    }
    // Some were duplicates (rare: re-sends): the ids that made it tell which.
    const sqlite::reset_on_exit ids_guard(st.ids_between);
    st.ids_between.bind_int(1, next_id);
    st.ids_between.bind_int(2, next_id + static_cast<std::int64_t>(rows) - 1);
    while (st.ids_between.step()) {
        out.bytes += sizes[first + as_size(st.ids_between.column_int(0) - next_id)];
    }
}

// Inserts the readings in chunks of max_insert_rows, then one chunk per power of two left over.
inserted_readings insert_readings(sqlite::database& db, statements& st, const commit_set& set,
                                  const std::vector<std::size_t>& sizes,
                                  const std::vector<std::int64_t>& devices, std::int64_t& next_id) {
    inserted_readings out;
    std::size_t first = 0;
    while (first < set.readings.size()) {
        std::size_t rows = max_insert_rows;
        while (rows > set.readings.size() - first) {
            rows /= 2;
        }
        insert_chunk(db, st, set, sizes, devices, first, rows, next_id, out);
        first += rows;
        next_id += static_cast<std::int64_t>(rows);
    }
    return out;
}

// Returns the (device, boot)s whose processed mark is now above their covered mark.
std::vector<series_key> upsert_progress(sqlite::statement& s, const commit_set& set) {
    const sqlite::reset_on_exit guard(s);
    std::vector<series_key> now_uncovered;
    for (const progress_update& p : set.progress) {
        s.bind_text(1, p.device);
        s.bind_int(2, as_int(p.boot));
        s.bind_int(3, as_int(p.processed));
        s.bind_double(4, set.now);
        if (s.step() && s.column_int(0) > s.column_int(1)) {
            now_uncovered.emplace_back(p.device, p.boot);
        }
        while (s.step()) {
        }
        s.reset();
    }
    return now_uncovered;
}

void upsert_filter_states(sqlite::statement& s, const commit_set& set) {
    const sqlite::reset_on_exit guard(s);
    for (const filter_state_row& f : set.filter_states) {
        s.bind_text(1, f.device);
        s.bind_text(2, f.sensor);
        s.bind_text(3, f.state);
        s.run();
        s.reset();
    }
}

}  // namespace

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
    impl& m = *impl_;
    sqlite::transaction tx = m.begin();  // first: it may reopen the store and reload next_id
    if (m.already_committed(set.token)) {
        return {0, set.readings.size(), 0};
    }
    // Ids are taken only once the commit succeeds; a rolled back one may use them again.
    std::int64_t next_id = m.next_id;
    const std::int64_t first_new_id = next_id;
    std::vector<std::string> new_devices;
    const std::vector<std::int64_t> devices = m.device_ids_of(set.readings, new_devices);
    const inserted_readings added = insert_readings(m.db, m.st, set, sizes, devices, next_id);
    std::vector<series_key> now_uncovered = upsert_progress(m.st.upsert_progress, set);
    upsert_filter_states(m.st.upsert_filter_state, set);
    // Throws store_errc::full (rolling everything back) when the policy refuses the commit.
    const drop_outcome dropped = m.make_room(added.inserted, added.bytes, first_new_id, set.now);
    const drop_outcome lost = m.record_lost(set.lost, set.now, dropped.next_gap_id);
    m.mark_committed(set.token);
    tx.commit();

    m.add_devices(new_devices);
    m.next_id = next_id;
    queue_stats& c = m.counters;
    c.pending_readings += added.inserted;
    c.pending_bytes += added.bytes;
    if (added.inserted > 0) {
        if (!c.oldest_enqueued) {
            c.oldest_enqueued = set.now;
        }
        if (!c.oldest_pending) {
            c.oldest_pending = set.now;
        }
        if (!c.oldest_live) {
            c.oldest_live = set.now;  // new readings are live
        }
    }
    m.disk_written_since += added.bytes - std::min(added.bytes, dropped.bytes);
    m.apply(dropped);
    m.apply_lost(lost);
    for (series_key& key : now_uncovered) {
        m.uncovered.insert(std::move(key));
    }
    return {added.inserted, added.duplicates, dropped.readings};
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

std::optional<lease> store::lease_batch_unguarded(std::size_t max_readings, std::size_t max_bytes,
                                                  double now, lease_lane lane) {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->lease_batch(max_readings, max_bytes, now, lane);
}

std::size_t store::start_backlog_unguarded() {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->start_backlog();
}

std::size_t store::impl::start_backlog() {
    queue_stats& c = counters;
    if (c.pending_readings == c.backlog_readings) {
        return c.backlog_readings;  // nothing live
    }
    // Every id ever used is at most next_id - 1, and everything above backlog_end is live.
    const std::int64_t end = next_id - 1;
    {
        sqlite::transaction tx = begin();
        const sqlite::reset_on_exit guard(st.set_backlog_end);
        st.set_backlog_end.bind_int(1, end);
        st.set_backlog_end.run();
        tx.commit();
    }
    lanes.backlog_end = end;
    c.backlog_readings = c.pending_readings;
    c.backlog_bytes = c.pending_bytes;
    c.oldest_live.reset();
    return c.backlog_readings;
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
        l.replay = st.all_batches.column_int(6) != 0;
        const sqlite::reset_on_exit readings_guard(st.batch_readings);
        st.batch_readings.bind_int(1, st.all_batches.column_int(3));
        st.batch_readings.bind_int(2, st.all_batches.column_int(4));
        while (st.batch_readings.step()) {
            stored_reading sr;
            sr.r.device = impl_->devices.name(st.batch_readings.column_int(0));
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

std::optional<acked_batch> store::impl::delete_batch(const std::string& batch_id) {
    acked_batch out;
    std::int64_t ord = 0;
    {
        const sqlite::reset_on_exit guard(st.find_batch);
        st.find_batch.bind_text(1, batch_id);
        if (!st.find_batch.step()) {
            return std::nullopt;
        }
        ord = st.find_batch.column_int(0);
        out.ids = {st.find_batch.column_int(1), st.find_batch.column_int(2)};
        out.bytes = as_size(st.find_batch.column_int(3));
    }
    {
        const sqlite::reset_on_exit guard(st.delete_batch_readings);
        st.delete_batch_readings.bind_int(1, out.ids.first);
        st.delete_batch_readings.bind_int(2, out.ids.last);
        st.delete_batch_readings.run();
        out.readings = as_size(db.changes());
    }
    const sqlite::reset_on_exit guard(st.delete_batch);
    st.delete_batch.bind_int(1, ord);
    st.delete_batch.run();
    return out;
}

bool store::ack_batch(const std::string& batch_id) { return ack_batches({batch_id}) == 1; }

std::size_t store::ack_batches_unguarded(const std::vector<std::string>& batch_ids) {
    const std::scoped_lock lock(impl_->mutex);
    impl& m = *impl_;
    std::vector<acked_batch> acked;
    {
        // Relaxed: an acknowledgement lost to a power loss only re-sends a batch the cloud has,
        // with the same batch_id and readings; the next lease or commit makes it durable.
        sqlite::transaction tx = m.begin(durability::relaxed);
        for (const std::string& id : batch_ids) {
            if (auto a = m.delete_batch(id)) {
                acked.push_back(*a);
            }
        }
        if (acked.empty()) {
            return 0;
        }
        tx.commit();
    }
    queue_stats& c = m.counters;
    for (const acked_batch& a : acked) {
        m.lanes.remove(a.ids);
        c.leased_batches -= 1;
        c.leased_readings -= a.readings;
        c.leased_bytes -= std::min(c.leased_bytes, a.bytes);
    }
    try {
        m.refresh_oldest();
    } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the ack itself is done;
    }                               // the figure is refreshed again by the next ack
    return acked.size();
}

queue_stats store::stats() {
    const std::scoped_lock lock(impl_->mutex);
    queue_stats out = impl_->counters;
    out.uncovered = !impl_->uncovered.empty();
    out.held_readings = out.pending_readings + out.leased_readings;
    out.held_bytes = out.pending_bytes + out.leased_bytes;
    return out;
}

std::string store::epoch() {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->epoch;
}

}  // namespace fogbridge
