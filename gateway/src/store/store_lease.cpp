// store::lease_batch: takes pending readings into a new batch and accounts its seq ranges.

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>

#include "store/coverage.hpp"
#include "store/ranges_json.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

struct picked {
    std::vector<stored_reading> readings;
    std::int64_t first_id = 1;  // an empty id range when nothing was picked
    std::int64_t last_id = 0;
    std::size_t bytes = 0;
};

picked pick_span(const device_cache& devices, sqlite::statement& s, id_span span,
                 std::size_t max_readings, std::size_t max_bytes) {
    const sqlite::reset_on_exit guard(s);
    s.bind_int(1, span.lo);
    s.bind_int(2, span.hi);
    picked out;
    while (s.step()) {
        const auto bytes = static_cast<std::size_t>(s.column_int(8));
        if (!out.readings.empty() &&
            (out.readings.size() >= max_readings || out.bytes + bytes > max_bytes)) {
            break;
        }
        const std::int64_t id = s.column_int(0);
        if (out.readings.empty()) {
            out.first_id = id;
        }
        out.last_id = id;
        out.bytes += bytes;
        stored_reading sr;
        sr.r.device = devices.name(s.column_int(1));
        sr.r.boot = static_cast<std::uint64_t>(s.column_int(2));
        sr.r.seq = static_cast<std::uint64_t>(s.column_int(3));
        sr.r.sensor = s.column_text(4);
        sr.r.value = s.column_double(5);
        sr.r.unit = s.column_text(6);
        sr.r.ts = s.column_double(7);
        sr.enqueued = s.column_double(9);
        sr.r.ts_from_gateway = s.column_int(10) != 0;
        out.readings.push_back(std::move(sr));
    }
    return out;
}

// The oldest pending readings of the lane: from the first span that holds any, so that a batch
// is one id range holding no reading of another batch.
picked pick_pending(const device_cache& devices, sqlite::statement& s, const lane_marks& lanes,
                    lease_lane lane, std::size_t max_readings, std::size_t max_bytes) {
    const bool backlog = lane == lease_lane::backlog;
    const std::int64_t from = backlog ? lanes.leased_upto : lanes.backlog_end;
    const std::int64_t upto =
        backlog ? lanes.backlog_end : std::numeric_limits<std::int64_t>::max();
    for (const id_span& span : lanes.pending_spans({.lo = from, .hi = upto})) {
        picked p = pick_span(devices, s, span, max_readings, max_bytes);
        if (!p.readings.empty()) {
            return p;
        }
    }
    return {};
}

// Reads what account_batch needs about one (device, boot) from the store.
coverage_input read_series(statements& st, const series_key& key, const lane_marks& lanes,
                           std::vector<std::uint64_t> batch_seqs) {
    coverage_input in;
    in.batch_seqs = std::move(batch_seqs);
    std::sort(in.batch_seqs.begin(), in.batch_seqs.end());
    {
        const sqlite::reset_on_exit guard(st.progress_of);
        bind_series(st.progress_of, key);
        if (st.progress_of.step()) {
            in.processed = static_cast<std::uint64_t>(st.progress_of.column_int(0));
            in.covered = static_cast<std::uint64_t>(st.progress_of.column_int(1));
        }
    }
    {
        const sqlite::reset_on_exit guard(st.ahead_of);
        bind_series(st.ahead_of, key);
        while (st.ahead_of.step()) {
            in.ahead.push_back({static_cast<std::uint64_t>(st.ahead_of.column_int(0)),
                                static_cast<std::uint64_t>(st.ahead_of.column_int(1))});
        }
    }
    {
        // `lanes` counts this batch as leased: every row that passes stays pending.
        const sqlite::reset_on_exit guard(st.pending_seqs_from);
        bind_series(st.pending_seqs_from, key);
        st.pending_seqs_from.bind_int(
            3, static_cast<std::int64_t>(first_seq_not_carried(in.covered, in.batch_seqs)));
        st.pending_seqs_from.bind_int(4, lanes.leased_upto);
        while (st.pending_seqs_from.step()) {
            if (!lanes.pending(st.pending_seqs_from.column_int(1))) {
                continue;  // in flight with another batch
            }
            const auto seq = static_cast<std::uint64_t>(st.pending_seqs_from.column_int(0));
            // A re-sent reading whose first copy was carried and acknowledged already.
            if (in_runs(in.ahead, seq)) {
                continue;
            }
            in.first_unbatched = seq;
            break;
        }
    }
    return in;
}

// Returns true when the watermark moved.
bool write_series(statements& st, const series_key& key, const coverage_input& in,
                  const coverage_result& out, double now) {
    if (out.covered != in.covered) {
        const sqlite::reset_on_exit guard(st.raise_covered);
        bind_series(st.raise_covered, key);
        st.raise_covered.bind_int(3, static_cast<std::int64_t>(out.covered));
        st.raise_covered.bind_double(4, now);
        st.raise_covered.run();
    }
    // Only the runs that changed: while a backlog drains, live batches leave many runs here.
    const auto by_run = [](const seq_run& a, const seq_run& b) {
        return a.first < b.first || (a.first == b.first && a.last < b.last);
    };
    std::vector<seq_run> gone;
    std::set_difference(in.ahead.begin(), in.ahead.end(), out.ahead.begin(), out.ahead.end(),
                        std::back_inserter(gone), by_run);
    std::vector<seq_run> added;
    std::set_difference(out.ahead.begin(), out.ahead.end(), in.ahead.begin(), in.ahead.end(),
                        std::back_inserter(added), by_run);
    {
        const sqlite::reset_on_exit guard(st.delete_ahead_run);
        for (const seq_run& r : gone) {
            bind_series(st.delete_ahead_run, key);
            st.delete_ahead_run.bind_int(3, static_cast<std::int64_t>(r.first));
            st.delete_ahead_run.run();
            st.delete_ahead_run.reset();
        }
    }
    const sqlite::reset_on_exit guard(st.insert_ahead);
    for (const seq_run& r : added) {
        bind_series(st.insert_ahead, key);
        st.insert_ahead.bind_int(3, static_cast<std::int64_t>(r.first));
        st.insert_ahead.bind_int(4, static_cast<std::int64_t>(r.last));
        st.insert_ahead.run();
        st.insert_ahead.reset();
    }
    return out.covered != in.covered;
}

std::int64_t next_batch_counter(sqlite::statement& s) {
    const sqlite::reset_on_exit guard(s);
    if (!s.step()) {
        throw store_error(store_errc::corrupt, "meta.batch_counter is missing");
    }
    return s.column_int(0);
}

// The marks after a lease of `p` from `lane`.
lane_marks marks_after(const lane_marks& before, lease_lane lane, const picked& p) {
    lane_marks next = before;
    if (p.readings.empty()) {
        return next;
    }
    // A batch takes the oldest pending readings of its lane. In the backlog lane, or when there
    // is only one lane, every id up to its last one is then leased or gone.
    if (lane == lease_lane::backlog) {
        next.leased_upto = p.last_id;
    } else if (before.backlog_end == before.leased_upto) {
        next.leased_upto = p.last_id;
        next.backlog_end = p.last_id;
    }
    next.add({p.first_id, p.last_id});
    return next;
}

}  // namespace

std::optional<lease> store::impl::lease_batch(std::size_t max_readings, std::size_t max_bytes,
                                              lease_lane lane, double now) {
    const bool backlog = lane == lease_lane::backlog;
    const std::size_t lane_pending =
        backlog ? counters.backlog_readings : counters.pending_readings - counters.backlog_readings;
    if (lane_pending == 0 && (backlog || uncovered.empty())) {
        return std::nullopt;
    }
    sqlite::transaction tx = begin();
    picked p = pick_pending(devices, st.pending_readings, lanes, lane, max_readings, max_bytes);
    if (p.readings.empty() && (backlog || uncovered.empty())) {
        return std::nullopt;
    }
    const std::size_t backlog_left = counters.backlog_readings - (backlog ? p.readings.size() : 0);
    lane_marks next = marks_after(lanes, lane, p);
    if (backlog_left == 0 && next.backlog_end > next.leased_upto) {
        next.leased_upto = next.backlog_end;  // the backlog is gone: one lane again
    }
    if (next.leased_upto != lanes.leased_upto) {
        const sqlite::reset_on_exit guard(st.set_leased_upto);
        st.set_leased_upto.bind_int(1, next.leased_upto);
        st.set_leased_upto.run();
    }
    if (next.backlog_end != lanes.backlog_end) {
        const sqlite::reset_on_exit guard(st.set_backlog_end);
        st.set_backlog_end.bind_int(1, next.backlog_end);
        st.set_backlog_end.run();
    }

    // Every (device, boot) this batch carries a reading of, or that has uncovered progress.
    std::map<series_key, std::vector<std::uint64_t>> series;
    for (const stored_reading& sr : p.readings) {
        series[{sr.r.device, sr.r.boot}].push_back(sr.r.seq);
    }
    for (const series_key& key : uncovered) {
        series.try_emplace(key);
    }

    lease out;
    out.created = now;
    out.replay = backlog;
    bool moved = false;
    std::vector<const series_key*> still_uncovered;
    for (auto& [key, seqs] : series) {
        const coverage_input in = read_series(st, key, next, std::move(seqs));
        const coverage_result result = account_batch(in);
        for (const seq_run& r : result.runs) {
            out.ranges.push_back({key.first, key.second, r.first, r.last});
        }
        moved = write_series(st, key, in, result, now) || moved;
        if (in.processed > result.covered) {
            still_uncovered.push_back(&key);
        }
    }
    const bool batch = !p.readings.empty() || !out.ranges.empty();
    if (batch) {
        const std::int64_t ord = next_batch_counter(st.next_batch_counter);
        out.batch_id = fmt::format("{}-{}", epoch, ord);
        const sqlite::reset_on_exit guard(st.insert_batch);
        st.insert_batch.bind_int(1, ord);
        st.insert_batch.bind_text(2, out.batch_id);
        st.insert_batch.bind_double(3, now);
        st.insert_batch.bind_int(4, p.first_id);
        st.insert_batch.bind_int(5, p.last_id);
        st.insert_batch.bind_int(6, static_cast<std::int64_t>(p.bytes));
        const std::string ranges = encode_ranges(out.ranges);
        st.insert_batch.bind_text(7, ranges);
        st.insert_batch.bind_int(8, out.replay ? 1 : 0);
        st.insert_batch.run();
    } else if (!moved) {
        return std::nullopt;  // rolls back: nothing changed
    }
    // Without a batch the watermark still moved: only seqs accounted already (in `ahead`, e.g.
    // inside gap records) were passed, and nothing is left to report.
    tx.commit();

    lanes = std::move(next);
    std::set<series_key> next_uncovered;
    for (const series_key* key : still_uncovered) {
        next_uncovered.insert(*key);
    }
    uncovered = std::move(next_uncovered);
    if (!batch) {
        return std::nullopt;
    }
    counters.pending_readings -= p.readings.size();
    counters.pending_bytes -= p.bytes;
    if (backlog) {
        counters.backlog_readings -= p.readings.size();
        counters.backlog_bytes -= std::min(counters.backlog_bytes, p.bytes);
    }
    counters.leased_batches += 1;
    counters.leased_readings += p.readings.size();
    counters.leased_bytes += p.bytes;
    if (!p.readings.empty()) {
        try {
            refresh_oldest();
        } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the lease is done; the
        }                               // figures are refreshed again by the next change
    }
    out.readings = std::move(p.readings);
    return out;
}

}  // namespace fogbridge
