// Gap records of dropped readings: each drop joins its series' open record or starts a new one,
// and the accounted seqs move ahead of the coverage watermark. See README.md, "Gap records and the
// accounting of drops". Not thread-safe by itself: store holds its mutex around all use.
#include <algorithm>
#include <optional>

#include "store/coverage.hpp"
#include "store/ranges_json.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

// A record stops taking new runs here, so that a gap message stays small; adjacent seqs still
// extend its last run.
constexpr std::size_t max_gap_runs = 64;

auto as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

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

// The key sits between the two integers so that they cannot be swapped unnoticed.
std::optional<open_record> read_open_gap(statements& st, std::int64_t gaps_leased_upto,
                                         const series_key& key, std::uint64_t gap_hi) {
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

open_record new_record(std::int64_t id, const series_key& key, const drop_candidate& c,
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
        open = read_open_gap(st, gaps_leased_upto, key, p.gap_hi);
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
            open_record g = new_record(out.next_gap_id++, key, *c, now);
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

drop_candidate read_candidate(const device_cache& devices, const sqlite::statement& s,
                              drop_reason reason) {
    drop_candidate c;
    c.id = s.column_int(0);
    c.device = s.column_int(1);
    c.series = {devices.name(s.column_int(1)), as_uint(s.column_int(2))};
    c.seq = as_uint(s.column_int(3));
    c.ts = s.column_double(4);
    c.bytes = static_cast<std::size_t>(s.column_int(5));
    c.reason = reason;
    return c;
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
}  // namespace fogbridge
