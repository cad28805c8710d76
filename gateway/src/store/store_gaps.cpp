// store::lease_gaps, leased_gaps, ack_gaps and prune_progress: gap records on their way to the
// cloud, and forgetting finished (device, boot)s.

#include <fmt/format.h>

#include <algorithm>

#include "store/ranges_json.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

std::vector<gap_record> gaps_between(sqlite::statement& s, std::int64_t first_id,
                                     std::int64_t last_id) {
    const sqlite::reset_on_exit guard(s);
    s.bind_int(1, first_id);
    s.bind_int(2, last_id);
    std::vector<gap_record> out;
    while (s.step()) {
        out.push_back(read_gap_row(s));
    }
    return out;
}

}  // namespace

gap_record read_gap_row(const sqlite::statement& s) {
    gap_record g;
    g.device = s.column_text(1);
    g.boot = as_uint(s.column_int(2));
    const auto reason = drop_reason_from(s.column_text(3));
    if (!reason) {
        throw store_error(store_errc::corrupt,
                          fmt::format("gap record with unknown reason '{}'", s.column_text(3)));
    }
    g.reason = *reason;
    g.first = as_uint(s.column_int(4));
    g.last = as_uint(s.column_int(5));
    g.count = as_uint(s.column_int(6));
    g.dropped = decode_runs(s.column_text(7));
    g.first_ts = s.column_double(8);
    g.last_ts = s.column_double(9);
    g.created = s.column_double(10);
    return g;
}

std::optional<gap_lease> store::lease_gaps_unguarded(const gap_lease_ask& ask) {
    const auto [max_records, now] = ask;
    const std::scoped_lock lock(impl_->mutex);
    impl& m = *impl_;
    if (m.counters.gap_records == 0) {
        return std::nullopt;
    }
    statements& st = m.st;
    sqlite::transaction tx = m.begin();
    gap_lease out;
    out.created = now;
    std::int64_t first_id = 0;
    std::int64_t last_id = 0;
    {
        const sqlite::reset_on_exit guard(st.pending_gaps);
        st.pending_gaps.bind_int(1, m.gaps_leased_upto);
        st.pending_gaps.bind_int(2,
                                 static_cast<std::int64_t>(std::max<std::size_t>(max_records, 1)));
        while (st.pending_gaps.step()) {
            if (out.records.empty()) {
                first_id = st.pending_gaps.column_int(0);
            }
            last_id = st.pending_gaps.column_int(0);
            out.records.push_back(read_gap_row(st.pending_gaps));
        }
    }
    if (out.records.empty()) {
        return std::nullopt;
    }
    std::int64_t ord = 0;
    {
        const sqlite::reset_on_exit guard(st.next_gap_counter);
        if (!st.next_gap_counter.step()) {
            throw store_error(store_errc::corrupt, "meta.gap_counter is missing");
        }
        ord = st.next_gap_counter.column_int(0);
    }
    out.gap_id = fmt::format("{}-g{}", m.epoch, ord);
    {
        const sqlite::reset_on_exit guard(st.set_gaps_leased_upto);
        st.set_gaps_leased_upto.bind_int(1, last_id);
        st.set_gaps_leased_upto.run();
    }
    {
        const sqlite::reset_on_exit guard(st.insert_gap_lease);
        st.insert_gap_lease.bind_int(1, ord);
        st.insert_gap_lease.bind_text(2, out.gap_id);
        st.insert_gap_lease.bind_double(3, now);
        st.insert_gap_lease.bind_int(4, first_id);
        st.insert_gap_lease.bind_int(5, last_id);
        st.insert_gap_lease.run();
    }
    tx.commit();

    m.gaps_leased_upto = last_id;
    m.counters.gap_records -= std::min(m.counters.gap_records, out.records.size());
    m.counters.leased_gap_messages += 1;
    try {
        m.refresh_oldest();
    } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the lease is done; the
    }                               // figures are refreshed again by the next change
    return out;
}

std::vector<gap_lease> store::leased_gaps() {
    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    const sqlite::reset_on_exit guard(st.all_gap_leases);
    std::vector<gap_lease> out;
    while (st.all_gap_leases.step()) {
        gap_lease l;
        l.gap_id = st.all_gap_leases.column_text(1);
        l.created = st.all_gap_leases.column_double(2);
        l.records = gaps_between(st.gaps_between, st.all_gap_leases.column_int(3),
                                 st.all_gap_leases.column_int(4));
        out.push_back(std::move(l));
    }
    return out;
}

bool store::ack_gaps_unguarded(const std::string& gap_id) {
    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    // Relaxed, as batch acknowledgements (a lost one re-sends the same gap_id; README.md).
    sqlite::transaction tx = impl_->begin(durability::relaxed);
    std::int64_t ord = 0;
    std::int64_t first_id = 0;
    std::int64_t last_id = 0;
    {
        const sqlite::reset_on_exit guard(st.find_gap_lease);
        st.find_gap_lease.bind_text(1, gap_id);
        if (!st.find_gap_lease.step()) {
            return false;
        }
        ord = st.find_gap_lease.column_int(0);
        first_id = st.find_gap_lease.column_int(1);
        last_id = st.find_gap_lease.column_int(2);
    }
    {
        const sqlite::reset_on_exit guard(st.delete_gaps_between);
        st.delete_gaps_between.bind_int(1, first_id);
        st.delete_gaps_between.bind_int(2, last_id);
        st.delete_gaps_between.run();
    }
    {
        const sqlite::reset_on_exit guard(st.delete_gap_lease);
        st.delete_gap_lease.bind_int(1, ord);
        st.delete_gap_lease.run();
    }
    tx.commit();
    impl_->counters.leased_gap_messages -=
        std::min<std::size_t>(impl_->counters.leased_gap_messages, 1);
    return true;
}

std::size_t store::prune_idle(double now) {
    const double after = impl_->settings.prune_after_s;  // constant after opening
    return after > 0 ? prune_progress(now - after) : 0;
}

std::size_t store::prune_progress(double older_than) {
    const std::scoped_lock lock(impl_->mutex);
    impl& m = *impl_;
    statements& st = m.st;
    sqlite::transaction tx = m.begin();
    std::vector<series_key> candidates;
    {
        const sqlite::reset_on_exit guard(st.prunable);
        st.prunable.bind_double(1, older_than);
        while (st.prunable.step()) {
            candidates.emplace_back(std::string(st.prunable.column_text(0)),
                                    as_uint(st.prunable.column_int(1)));
        }
    }
    std::vector<series_key> pruned;
    for (series_key& key : candidates) {
        {
            const sqlite::reset_on_exit guard(st.series_holds);
            bind_series(st.series_holds, key);
            if (st.series_holds.step()) {
                continue;  // a reading of it is still pending or in flight
            }
        }
        for (sqlite::statement* s : {&st.delete_progress, &st.delete_series_ahead}) {
            const sqlite::reset_on_exit guard(*s);
            bind_series(*s, key);
            s->run();
        }
        pruned.push_back(std::move(key));
    }
    if (pruned.empty()) {
        return 0;
    }
    tx.commit();
    for (const series_key& key : pruned) {
        m.uncovered.erase(key);
    }
    return pruned.size();
}

}  // namespace fogbridge
