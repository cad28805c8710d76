// The store's limits: make_room (after a commit), expire (TTL), and the accounting of the readings
// they drop (gap records: store_gap_records.cpp). See README.md, "Limits and policies".

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <unordered_set>

#include "store/disk_space.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

std::unordered_set<std::int64_t> ids_of(const std::vector<drop_candidate>& candidates) {
    std::unordered_set<std::int64_t> out;
    for (const drop_candidate& c : candidates) {
        out.insert(c.id);
    }
    return out;
}

constexpr std::array all_reasons{drop_reason::store_full_bytes, drop_reason::store_full_rows,
                                 drop_reason::disk_low, drop_reason::ttl};

auto as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

std::uint64_t over(std::uint64_t held, std::uint64_t limit) {
    return limit > 0 && held > limit ? held - limit : 0;
}

}  // namespace

void store::impl::measure_disk_if_due(double now) {
    const bool due = !disk_measured_at || now < *disk_measured_at ||
                     now - *disk_measured_at >= settings.disk_check_interval_s;
    if (due) {
        counters.disk_free =
            settings.disk_free ? settings.disk_free() : free_bytes_near(settings.path);
        disk_measured_at = now;
        disk_written_since = 0;
    }
}

std::optional<std::uint64_t> store::impl::disk_free_after(std::uint64_t adding) const {
    if (!counters.disk_free) {
        return std::nullopt;
    }
    const std::uint64_t used = disk_written_since + adding;
    return *counters.disk_free - std::min(*counters.disk_free, used);
}

drop_outcome store::impl::make_room(const added_readings& added, double now) {
    const std::size_t rows = added.rows;
    const std::size_t bytes = added.bytes;
    const std::int64_t first_new_id = added.first_id;
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
    measure_disk_if_due(now);
    const std::optional<std::uint64_t> free = disk_free_after(bytes);
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

    // drop_oldest: pending readings stored before this commit, never leased ones; first those
    // of the boards over their share, then the oldest of all.
    held_by_device all = held;
    add_held(all, added.by_device);
    share_candidates share = candidates_over_share(need, std::move(all), first_new_id);
    std::vector<drop_candidate> candidates = std::move(share.candidates);
    const bool oldest = candidates.empty();
    if (share.over_share_left) {  // only free disk space may take the others' readings
        need.rows = 0;
        need.bytes = 0;
    }
    const std::unordered_set<std::int64_t> chosen = ids_of(candidates);
    for (const id_span& span :
         lanes.pending_spans({.lo = lanes.leased_upto, .hi = first_new_id - 1})) {
        if (!need.any()) {
            break;
        }
        const sqlite::reset_on_exit guard(st.drop_candidates);
        st.drop_candidates.bind_int(1, span.lo);
        st.drop_candidates.bind_int(2, span.hi);
        while (need.any() && st.drop_candidates.step()) {
            if (chosen.contains(st.drop_candidates.column_int(0))) {
                continue;
            }
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
    if (!oldest) {
        std::sort(candidates.begin(), candidates.end(),
                  [](const drop_candidate& a, const drop_candidate& b) { return a.id < b.id; });
    }
    return drop(candidates, now, oldest);
}

drop_outcome store::impl::drop(std::vector<drop_candidate>& candidates, double now, bool oldest) {
    drop_outcome out;
    out.next_gap_id = next_gap_id;
    delete_candidates(candidates, oldest);
    std::map<series_key, std::vector<const drop_candidate*>> by_series;
    for (const drop_candidate& c : candidates) {
        out.bytes += c.bytes;
        if (c.id <= lanes.backlog_end) {
            ++out.backlog_readings;
            out.backlog_bytes += c.bytes;
        }
        by_series[c.series].push_back(&c);
        add_held(out.by_device, c.device, {.rows = 1, .bytes = c.bytes});
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

// Oldest: the candidates of each pending span are the oldest readings in it (ascending ids), one
// range delete per span.
void store::impl::delete_candidates(const std::vector<drop_candidate>& candidates, bool oldest) {
    std::size_t deleted = 0;
    if (!oldest) {
        const sqlite::reset_on_exit guard(st.delete_reading);
        for (const drop_candidate& c : candidates) {
            st.delete_reading.bind_int(1, c.id);
            st.delete_reading.run();
            deleted += as_uint(db.changes());
            st.delete_reading.reset();
        }
        if (deleted != candidates.size()) {
            throw store_error(store_errc::internal, "drop: pending readings changed under it");
        }
        return;
    }
    auto c = candidates.begin();
    for (const id_span& span :
         lanes.pending_spans({.lo = lanes.leased_upto, .hi = candidates.back().id})) {
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
    remove_held(held, outcome.by_device);
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
    for (const id_span& span : m.lanes.pending_spans(
             {.lo = m.lanes.leased_upto, .hi = std::numeric_limits<std::int64_t>::max()})) {
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
