// store::commit: one group commit (readings, progress, filter state) in one transaction, with the
// limits enforced inside it (store_drops.cpp). Thread-safe: holds the store's mutex.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

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
auto as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

struct inserted_readings {
    std::size_t inserted = 0;
    std::size_t duplicates = 0;
    std::size_t bytes = 0;
    held_by_device by_device;
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
        s.bind_int(p + 9, r.ts_from_gateway ? 1 : 0);
    }
    s.run();
    const auto inserted = as_size(db.changes());
    out.inserted += inserted;
    out.duplicates += rows - inserted;
    if (inserted == rows) {
        for (std::size_t k = 0; k < rows; ++k) {
            out.bytes += sizes[first + k];
            add_held(out.by_device, devices[first + k], {.rows = 1, .bytes = sizes[first + k]});
        }
        return;
    }
    // Some were duplicates (rare: re-sends): the ids that made it tell which.
    const sqlite::reset_on_exit ids_guard(st.ids_between);
    st.ids_between.bind_int(1, next_id);
    st.ids_between.bind_int(2, next_id + static_cast<std::int64_t>(rows) - 1);
    while (st.ids_between.step()) {
        const std::size_t k = first + as_size(st.ids_between.column_int(0) - next_id);
        out.bytes += sizes[k];
        add_held(out.by_device, devices[k], {.rows = 1, .bytes = sizes[k]});
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
    // Outside the lock: the settings do not change after opening.
    std::vector<std::size_t> sizes;
    sizes.reserve(set.readings.size());
    for (const reading& r : set.readings) {
        sizes.push_back(impl_->settings.reading_size(r));
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
    const drop_outcome dropped = m.make_room({.rows = added.inserted,
                                              .bytes = added.bytes,
                                              .first_id = first_new_id,
                                              .by_device = added.by_device},
                                             set.now);
    const drop_outcome lost = m.record_lost(set.now, set.lost, dropped.next_gap_id);
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
    add_held(m.held, added.by_device);
    m.apply(dropped);
    m.apply_lost(lost);
    for (series_key& key : now_uncovered) {
        m.uncovered.insert(std::move(key));
    }
    return {added.inserted, added.duplicates, dropped.readings};
}

}  // namespace fogbridge
