// Opening the store: the connection, the counters and per-board figures loaded from the file, and
// the oldest-reading figures. Not thread-safe by itself: store holds its mutex around all use.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "store/schema.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }
auto as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

// One stored reading as the tally sees it.
struct tallied_row {
    std::int64_t id = 0;
    std::size_t bytes = 0;
};

// Readings and bytes in ascending, disjoint spans (lo, hi], fed ids in ascending order.
struct span_tally {
    std::vector<id_span> spans;
    std::size_t at = 0;
    std::size_t count = 0;
    std::size_t bytes = 0;

    void add(const tallied_row& row) {
        while (at < spans.size() && spans[at].hi < row.id) ++at;
        if (at < spans.size() && spans[at].lo < row.id) {
            ++count;
            bytes += row.bytes;
        }
    }
};

}  // namespace

store::store(const store_settings& settings) {
    if (!settings.reading_size) {
        throw std::runtime_error(
            fmt::format("store {}: settings.reading_size is not set", settings.path.string()));
    }
    try {
        impl_ = std::make_unique<impl>(settings);
    } catch (const store_error& e) {
        // Kept a store_error: the caller waits out a full or failing disk, not a damaged file.
        throw store_error(static_cast<store_errc>(e.code().value()),
                          fmt::format("store {}: {}", settings.path.string(), e.what()));
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("store {}: {}", settings.path.string(), e.what()));
    }
}

store::~store() = default;

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
    return sqlite::transaction({.begin = st.begin, .commit = st.commit, .rollback = st.rollback});
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
    tally_rows();
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
    measure_disk_if_due(0);  // the figure for stats(); commits measure again
    disk_measured_at.reset();
}

// One pass over the readings in id order for the lanes' counts and the per-device shares: with a
// million readings, a count per lane and a GROUP BY device (a table lookup per row through
// readings_device) took 1.7 s or more of the start.
void store::impl::tally_rows() {
    std::vector<id_span> leased;
    for (const id_range& r : lanes.leased) leased.push_back({r.first - 1, r.last});
    constexpr std::int64_t all = std::numeric_limits<std::int64_t>::max();
    span_tally in_lease{std::move(leased)};
    span_tally pending{lanes.pending_spans({.lo = lanes.leased_upto, .hi = all})};
    span_tally backlog{lanes.pending_spans({.lo = lanes.leased_upto, .hi = lanes.backlog_end})};
    sqlite::statement rows(db, "SELECT id, device, bytes FROM readings ORDER BY id");
    while (rows.step()) {
        const tallied_row row{.id = rows.column_int(0), .bytes = as_size(rows.column_int(2))};
        in_lease.add(row);
        pending.add(row);
        backlog.add(row);
        add_held(held, rows.column_int(1), {.rows = 1, .bytes = row.bytes});
    }
    counters.leased_readings += in_lease.count;
    counters.leased_bytes += in_lease.bytes;
    counters.pending_readings += pending.count;
    counters.pending_bytes += pending.bytes;
    counters.backlog_readings += backlog.count;
    counters.backlog_bytes += backlog.bytes;
}

std::optional<double> store::impl::first_pending_enqueued(std::int64_t from) {
    for (const id_span& span :
         lanes.pending_spans({.lo = from, .hi = std::numeric_limits<std::int64_t>::max()})) {
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

}  // namespace fogbridge
