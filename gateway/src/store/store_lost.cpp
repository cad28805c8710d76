// store::impl::record_lost and apply_lost: seqs the gateway had acknowledged that a power cut took
// from the store (synchronous = "normal") become gap records with the reason store_lost, so they
// are counted rather than missing. Called under the store's lock, inside a commit.

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "store/store_impl.hpp"

namespace fogbridge {

drop_outcome store::impl::record_lost(double now, const std::vector<lost_range>& lost,
                                      std::int64_t first_gap_id) {
    drop_outcome out;
    out.next_gap_id = first_gap_id;
    if (lost.empty()) {
        return out;
    }
    std::map<series_key, std::vector<drop_candidate>> by_series;
    for (const lost_range& r : lost) {
        auto& seqs = by_series[{r.device, r.boot}];
        for (std::uint64_t seq = r.first; seq >= r.first && seq <= r.last; ++seq) {
            drop_candidate c;
            c.series = {r.device, r.boot};
            c.seq = seq;
            c.reason = drop_reason::store_lost;
            seqs.push_back(std::move(c));
        }
    }
    for (auto& [key, candidates] : by_series) {
        std::vector<const drop_candidate*> drops;
        drops.reserve(candidates.size());
        for (const drop_candidate& c : candidates) {
            drops.push_back(&c);
        }
        std::sort(drops.begin(), drops.end(),
                  [](const drop_candidate* a, const drop_candidate* b) { return a->seq < b->seq; });
        record_series(st, lanes, gaps_leased_upto, key, drops, now, out);
    }
    const std::uint64_t n = out.by_reason[drop_reason::store_lost];
    if (n > 0) {
        sqlite::statement add(db,
                              "INSERT INTO meta(key, value) VALUES('drops_store_lost', ?1) "
                              "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value");
        add.bind_int(1, static_cast<std::int64_t>(n));
        add.run();
    }
    return out;
}

void store::impl::apply_lost(const drop_outcome& outcome) {
    next_gap_id = std::max(next_gap_id, outcome.next_gap_id);
    const std::uint64_t n = outcome.by_reason[drop_reason::store_lost];
    counters.drops[drop_reason::store_lost] += n;
    counters.drops_total[drop_reason::store_lost] += n;
    counters.gap_records += outcome.new_gaps;
    if (outcome.new_gaps > 0) {
        try {
            refresh_oldest();
        } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the next change refreshes
        }
    }
}

std::uint64_t store::impl::lost_total() {
    sqlite::statement s(db, "SELECT value FROM meta WHERE key = 'drops_store_lost'");
    return s.step() ? static_cast<std::uint64_t>(s.column_int(0)) : 0;
}

}  // namespace fogbridge
