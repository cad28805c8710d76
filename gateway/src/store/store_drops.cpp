// The store's limits: make_room (after a commit), expire (TTL), and the gap records and accounting
// of the readings they drop. See README.md, "Limits and gap records".

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>

#include "store/coverage.hpp"
#include "store/disk_space.hpp"
#include "store/ranges_json.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

// A record stops taking new runs here, so that a gap message stays small; adjacent seqs still
// extend its last run.
constexpr std::size_t max_gap_runs = 64;

constexpr std::array all_reasons{drop_reason::store_full_bytes, drop_reason::store_full_rows,
                                 drop_reason::disk_low, drop_reason::ttl};

auto as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

std::uint64_t over(std::uint64_t held, std::uint64_t limit) {
    return limit > 0 && held > limit ? held - limit : 0;
}

// What a commit has to free before it may go in.
struct room_needed {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::uint64_t disk = 0;

    bool any() const { return rows > 0 || bytes > 0 || disk > 0; }
    // The most severe limit still unmet names the drop.
    drop_reason reason() const {
        if (disk > 0) {
            return drop_reason::disk_low;
        }
        return bytes > 0 ? drop_reason::store_full_bytes : drop_reason::store_full_rows;
    }
    void take(std::size_t row_bytes) {
        rows -= std::min<std::uint64_t>(rows, 1);
        bytes -= std::min<std::uint64_t>(bytes, row_bytes);
        disk -= std::min<std::uint64_t>(disk, row_bytes);
    }
};

// Columns of statements::drop_candidates: id, device, boot, seq, ts, bytes, enqueued.
drop_candidate read_candidate(const device_cache& devices, const sqlite::statement& s,
                              drop_reason reason) {
    drop_candidate c;
    c.id = s.column_int(0);
    c.series = {devices.name(s.column_int(1)), as_uint(s.column_int(2))};
    c.seq = as_uint(s.column_int(3));
    c.ts = s.column_double(4);
    c.bytes = static_cast<std::size_t>(s.column_int(5));
    c.reason = reason;
    return c;
}

struct series_progress {
    std::uint64_t processed = 0;
    std::uint64_t covered = 0;
    std::uint64_t gap_hi = 0;
};

series_progress read_progress(statements& st, const series_key& key) {
    const sqlite::reset_on_exit guard(st.progress_of);
    bind_series(st.progress_of, key);
    series_progress p;
    if (st.progress_of.step()) {
        p.processed = as_uint(st.progress_of.column_int(0));
        p.covered = as_uint(st.progress_of.column_int(1));
        p.gap_hi = as_uint(st.progress_of.column_int(2));
    }
    return p;
}

// Pending readings of the series with first < seq < last, ascending.
std::vector<std::uint64_t> pending_seqs(statements& st, const series_key& key, std::uint64_t first,
                                        std::uint64_t last, const lane_marks& lanes) {
    const sqlite::reset_on_exit guard(st.pending_seqs_between);
    bind_series(st.pending_seqs_between, key);
    st.pending_seqs_between.bind_int(3, as_int(first));
    st.pending_seqs_between.bind_int(4, as_int(last));
    st.pending_seqs_between.bind_int(5, lanes.leased_upto);
    std::vector<std::uint64_t> out;
    while (st.pending_seqs_between.step()) {
        if (lanes.pending(st.pending_seqs_between.column_int(1))) {
            out.push_back(as_uint(st.pending_seqs_between.column_int(0)));
        }
    }
    return out;
}

// Merges runs into the series' ahead table (clipped above the watermark).
void add_ahead(statements& st, const series_key& key, std::vector<seq_run> adds,
               std::uint64_t covered) {
    std::erase_if(adds, [covered](seq_run& r) {
        r.first = std::max(r.first, covered + 1);
        return r.first > r.last;
    });
    if (adds.empty()) {
        return;
    }
    merge_runs(adds);
    // Existing runs that overlap or touch the new ones are replaced by the merged runs.
    const std::vector<seq_run> existing =
        load_ahead(st, key, adds.front().first - 1, adds.back().last + 1);
    std::vector<seq_run> merged = existing;
    merged.insert(merged.end(), adds.begin(), adds.end());
    merge_runs(merged);
    {
        const sqlite::reset_on_exit guard(st.delete_ahead_run);
        for (const seq_run& r : existing) {
            bind_series(st.delete_ahead_run, key);
            st.delete_ahead_run.bind_int(3, as_int(r.first));
            st.delete_ahead_run.run();
            st.delete_ahead_run.reset();
        }
    }
    const sqlite::reset_on_exit guard(st.insert_ahead);
    for (const seq_run& r : merged) {
        bind_series(st.insert_ahead, key);
        st.insert_ahead.bind_int(3, as_int(r.first));
        st.insert_ahead.bind_int(4, as_int(r.last));
        st.insert_ahead.run();
        st.insert_ahead.reset();
    }
}

struct open_record {
    std::int64_t id = 0;
    gap_record rec;
};

std::optional<open_record> read_open_gap(statements& st, const series_key& key,
                                         std::uint64_t gap_hi, std::int64_t gaps_leased_upto) {
    const sqlite::reset_on_exit guard(st.open_gap);
    bind_series(st.open_gap, key);
    st.open_gap.bind_int(3, as_int(gap_hi));
    st.open_gap.bind_int(4, gaps_leased_upto);
    if (!st.open_gap.step()) {
        return std::nullopt;
    }
    return open_record{st.open_gap.column_int(0), read_gap_row(st.open_gap)};
}

void write_gap(statements& st, const open_record& g) {
    sqlite::statement& s = st.upsert_gap;
    const sqlite::reset_on_exit guard(s);
    s.bind_int(1, g.id);
    s.bind_text(2, g.rec.device);
    s.bind_int(3, as_int(g.rec.boot));
    s.bind_text(4, to_string(g.rec.reason));
    s.bind_int(5, as_int(g.rec.first));
    s.bind_int(6, as_int(g.rec.last));
    s.bind_int(7, as_int(g.rec.count));
    const std::string dropped = encode_runs(g.rec.dropped);
    s.bind_text(8, dropped);
    s.bind_double(9, g.rec.first_ts);
    s.bind_double(10, g.rec.last_ts);
    s.bind_double(11, g.rec.created);
    s.run();
}

// Whether the series' open record (the unleased one ending at gap_hi) may grow to take c: its
// span would then cover (last, c.seq), which must hold no seq that could still be dropped later
// (all processed, none pending), so that records never overlap.
bool can_extend(const open_record& g, const drop_candidate& c, std::uint64_t processed,
                const std::vector<std::uint64_t>& pending) {
    if (g.rec.reason != c.reason || c.seq <= g.rec.last) {
        return false;
    }
    if (c.seq == g.rec.last + 1) {
        return true;
    }
    if (g.rec.dropped.size() >= max_gap_runs || c.seq - 1 > processed) {
        return false;
    }
    const auto it = std::upper_bound(pending.begin(), pending.end(), g.rec.last);
    return it == pending.end() || *it >= c.seq;
}

void extend(open_record& g, const drop_candidate& c) {
    if (g.rec.dropped.back().last + 1 == c.seq) {
        g.rec.dropped.back().last = c.seq;
    } else {
        g.rec.dropped.push_back({c.seq, c.seq});
    }
    g.rec.last = c.seq;
    g.rec.last_ts = c.ts;
    ++g.rec.count;
}

open_record new_record(const series_key& key, const drop_candidate& c, std::int64_t id,
                       double now) {
    open_record g;
    g.id = id;
    g.rec.device = key.first;
    g.rec.boot = key.second;
    g.rec.reason = c.reason;
    g.rec.first = c.seq;
    g.rec.last = c.seq;
    g.rec.count = 1;
    g.rec.dropped = {{c.seq, c.seq}};
    g.rec.first_ts = c.ts;
    g.rec.last_ts = c.ts;
    g.rec.created = now;
    return g;
}

}  // namespace

// Records the drops of one (device, boot), sorted by seq, as gap records and accounted seqs.
void record_series(statements& st, const lane_marks& lanes, std::int64_t gaps_leased_upto,
                   const series_key& key, const std::vector<const drop_candidate*>& drops,
                   double now, drop_outcome& out) {
    series_progress p = read_progress(st, key);
    const std::uint64_t gap_hi_before = p.gap_hi;
    const std::uint64_t lo = drops.front()->seq;
    const std::uint64_t hi = drops.back()->seq;
    const std::vector<seq_run> accounted = load_ahead(st, key, lo, hi);
    std::optional<open_record> open;
    if (p.gap_hi > 0) {
        open = read_open_gap(st, key, p.gap_hi, gaps_leased_upto);
    }
    const std::vector<std::uint64_t> pending =
        pending_seqs(st, key, open ? std::min(open->rec.last, lo) : lo, hi, lanes);

    std::vector<open_record> to_write;
    bool open_changed = false;
    std::vector<seq_run> adds;
    for (const drop_candidate* c : drops) {
        // A copy stored again after its first copy was carried (or dropped): nothing is lost.
        if (c->seq <= p.covered || in_runs(accounted, c->seq)) {
            continue;
        }
        out.by_reason[c->reason] += 1;
        if (open && can_extend(*open, *c, p.processed, pending)) {
            adds.push_back({open->rec.last + 1, c->seq});
            extend(*open, *c);
            open_changed = true;
        } else {
            open_record g = new_record(key, *c, out.next_gap_id++, now);
            ++out.new_gaps;
            adds.push_back({c->seq, c->seq});
            if (c->seq > p.gap_hi) {  // the new end of the series' records: it may grow
                if (open && open_changed) {
                    to_write.push_back(std::move(*open));
                }
                open = std::move(g);
                open_changed = true;
            } else {
                to_write.push_back(std::move(g));
            }
        }
        p.gap_hi = std::max(p.gap_hi, c->seq);
    }
    if (open && open_changed) {
        to_write.push_back(std::move(*open));
    }
    for (const open_record& g : to_write) {
        write_gap(st, g);
    }
    if (p.gap_hi != gap_hi_before) {
        const sqlite::reset_on_exit guard(st.raise_gap_hi);
        bind_series(st.raise_gap_hi, key);
        st.raise_gap_hi.bind_int(3, as_int(p.gap_hi));
        st.raise_gap_hi.run();
    }
    add_ahead(st, key, std::move(adds), p.covered);
}

std::vector<seq_run> load_ahead(statements& st, const series_key& key, std::uint64_t first,
                                std::uint64_t last) {
    std::vector<seq_run> out;
    {
        const sqlite::reset_on_exit guard(st.ahead_before);
        bind_series(st.ahead_before, key);
        st.ahead_before.bind_int(3, as_int(first));
        if (st.ahead_before.step() && as_uint(st.ahead_before.column_int(1)) >= first) {
            out.push_back(
                {as_uint(st.ahead_before.column_int(0)), as_uint(st.ahead_before.column_int(1))});
        }
    }
    const sqlite::reset_on_exit guard(st.ahead_from);
    bind_series(st.ahead_from, key);
    st.ahead_from.bind_int(3, as_int(first));
    st.ahead_from.bind_int(4, as_int(last));
    while (st.ahead_from.step()) {
        out.push_back({as_uint(st.ahead_from.column_int(0)), as_uint(st.ahead_from.column_int(1))});
    }
    return out;
}

std::optional<std::uint64_t> store::impl::disk_free_after(std::uint64_t adding, double now) {
    const bool due = !disk_measured_at || now < *disk_measured_at ||
                     now - *disk_measured_at >= settings.disk_check_interval_s;
    if (due) {
        counters.disk_free =
            settings.disk_free ? settings.disk_free() : free_bytes_near(settings.path);
        disk_measured_at = now;
        disk_written_since = 0;
    }
    if (!counters.disk_free) {
        return std::nullopt;
    }
    const std::uint64_t used = disk_written_since + adding;
    return *counters.disk_free - std::min(*counters.disk_free, used);
}

drop_outcome store::impl::make_room(std::size_t rows, std::size_t bytes, std::int64_t first_new_id,
                                    double now) {
    drop_outcome none;
    none.next_gap_id = next_gap_id;
    if (rows == 0) {
        return none;
    }
    room_needed need;
    const std::uint64_t held_rows = counters.pending_readings + counters.leased_readings + rows;
    const std::uint64_t held_bytes = counters.pending_bytes + counters.leased_bytes + bytes;
    need.rows = over(held_rows, settings.max_rows);
    need.bytes = over(held_bytes, settings.max_bytes);
    const std::optional<std::uint64_t> free = disk_free_after(bytes, now);
    const bool disk_low = settings.min_free_bytes > 0 && free && *free < settings.min_free_bytes;
    if (disk_low) {
        need.disk = bytes;  // drop at least what goes in: the file then stops growing
    }
    if (!need.any()) {
        return none;
    }
    if (settings.policy == store_policy::reject_new) {
        ++counters.rejected_commits;
        if (disk_low) {
            throw store_error(store_errc::full,
                              fmt::format("store full: free disk space would be {} bytes, "
                                          "min_free_bytes is {}",
                                          *free, settings.min_free_bytes));
        }
        if (need.bytes > 0) {
            throw store_error(store_errc::full,
                              fmt::format("store full: {} bytes held with this commit, "
                                          "max_bytes is {}",
                                          held_bytes, settings.max_bytes));
        }
        throw store_error(store_errc::full,
                          fmt::format("store full: {} readings held with this commit, max_rows "
                                      "is {}",
                                      held_rows, settings.max_rows));
    }

    // drop_oldest: the oldest pending readings stored before this commit, never leased ones.
    std::vector<drop_candidate> candidates;
    for (const id_span& span : lanes.pending_spans(lanes.leased_upto, first_new_id - 1)) {
        if (!need.any()) {
            break;
        }
        const sqlite::reset_on_exit guard(st.drop_candidates);
        st.drop_candidates.bind_int(1, span.lo);
        st.drop_candidates.bind_int(2, span.hi);
        while (need.any() && st.drop_candidates.step()) {
            candidates.push_back(read_candidate(devices, st.drop_candidates, need.reason()));
            need.take(candidates.back().bytes);
        }
    }
    if (need.disk > 0) {
        ++counters.rejected_commits;
        throw store_error(store_errc::full,
                          fmt::format("store full: free disk space would be {} bytes, "
                                      "min_free_bytes is {}, and no older pending reading is "
                                      "left to drop",
                                      *free, settings.min_free_bytes));
    }
    // Still over max_rows/max_bytes only by leased readings and this commit: let it in; the
    // uplink's acknowledgements free the room.
    if (candidates.empty()) {
        return none;
    }
    return drop(candidates, now);
}

drop_outcome store::impl::drop(std::vector<drop_candidate>& candidates, double now) {
    drop_outcome out;
    out.next_gap_id = next_gap_id;
    delete_candidates(candidates);
    std::map<series_key, std::vector<const drop_candidate*>> by_series;
    for (const drop_candidate& c : candidates) {
        out.bytes += c.bytes;
        if (c.id <= lanes.backlog_end) {
            ++out.backlog_readings;
            out.backlog_bytes += c.bytes;
        }
        by_series[c.series].push_back(&c);
    }
    out.readings = candidates.size();
    for (auto& [key, drops] : by_series) {
        std::sort(drops.begin(), drops.end(),
                  [](const drop_candidate* a, const drop_candidate* b) { return a->seq < b->seq; });
        record_series(st, lanes, gaps_leased_upto, key, drops, now, out);
    }
    const sqlite::reset_on_exit guard(st.add_drops);
    for (const drop_reason r : all_reasons) {
        if (out.by_reason[r] == 0) {
            continue;
        }
        const std::string key = fmt::format("drops_{}", to_string(r));
        st.add_drops.bind_text(1, key);
        st.add_drops.bind_int(2, as_int(out.by_reason[r]));
        st.add_drops.run();
        st.add_drops.reset();
    }
    return out;
}

// The candidates of each pending span are the oldest readings in it (ascending ids): one range
// delete per span.
void store::impl::delete_candidates(const std::vector<drop_candidate>& candidates) {
    std::size_t deleted = 0;
    auto c = candidates.begin();
    for (const id_span& span : lanes.pending_spans(lanes.leased_upto, candidates.back().id)) {
        std::int64_t upto = span.lo;
        for (; c != candidates.end() && c->id <= span.hi; ++c) {
            upto = c->id;
        }
        if (upto == span.lo) {
            continue;
        }
        const sqlite::reset_on_exit guard(st.delete_pending_upto);
        st.delete_pending_upto.bind_int(1, span.lo);
        st.delete_pending_upto.bind_int(2, upto);
        st.delete_pending_upto.run();
        deleted += as_uint(db.changes());
    }
    if (deleted != candidates.size()) {
        throw store_error(store_errc::internal, "drop: pending readings changed under it");
    }
}

void store::impl::apply(const drop_outcome& outcome) {
    next_gap_id = outcome.next_gap_id;
    if (outcome.readings == 0) {
        return;
    }
    counters.pending_readings -= outcome.readings;
    counters.pending_bytes -= outcome.bytes;
    counters.backlog_readings -= outcome.backlog_readings;
    counters.backlog_bytes -= std::min(counters.backlog_bytes, outcome.backlog_bytes);
    for (const drop_reason r : all_reasons) {
        counters.drops[r] += outcome.by_reason[r];
        counters.drops_total[r] += outcome.by_reason[r];
    }
    counters.gap_records += outcome.new_gaps;
    try {
        refresh_oldest();
    } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the drop itself is done; the
    }                               // figures are refreshed again by the next change
}

std::size_t store::expire(double now) {
    const std::scoped_lock lock(impl_->mutex);
    impl& m = *impl_;
    const double ttl = m.settings.ttl_s;
    if (ttl <= 0 || !m.counters.oldest_pending || *m.counters.oldest_pending >= now - ttl) {
        return 0;
    }
    const double cutoff = now - ttl;
    sqlite::transaction tx = m.begin();
    std::vector<drop_candidate> candidates;
    // Pending readings leave in enqueue order, so the expired ones are a prefix of them.
    bool more = true;
    for (const id_span& span :
         m.lanes.pending_spans(m.lanes.leased_upto, std::numeric_limits<std::int64_t>::max())) {
        sqlite::statement& s = m.st.drop_candidates;
        const sqlite::reset_on_exit guard(s);
        s.bind_int(1, span.lo);
        s.bind_int(2, span.hi);
        while ((more = s.step()) && s.column_double(6) < cutoff) {
            candidates.push_back(read_candidate(m.devices, s, drop_reason::ttl));
        }
        if (more) {
            break;  // reached one that is not expired
        }
    }
    if (candidates.empty()) {
        m.refresh_oldest();
        return 0;
    }
    const drop_outcome outcome = m.drop(candidates, now);
    tx.commit();
    m.apply(outcome);
    return outcome.readings;
}

}  // namespace fogbridge
