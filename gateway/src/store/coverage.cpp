#include "store/coverage.hpp"

#include <algorithm>
#include <limits>

namespace fogbridge {
namespace {

// Highest x such that every seq in (covered, x] is accounted once this batch is sent.
std::uint64_t new_watermark(const coverage_input& in, const std::vector<seq_run>& accounted) {
    const std::uint64_t stop =
        in.first_unbatched.value_or(std::numeric_limits<std::uint64_t>::max());
    std::uint64_t x = in.covered;
    if (in.processed > x) {
        x = std::min(in.processed, stop - 1);
    }
    for (const seq_run& r : accounted) {
        if (r.last <= x) {
            continue;
        }
        if (r.first > x + 1 || r.first >= stop) {
            break;
        }
        if (r.last >= stop) {  // cannot happen (stop is in no run), but never pass it
            return stop - 1;
        }
        x = r.last;
    }
    return x;
}

}  // namespace

void merge_runs(std::vector<seq_run>& runs) {
    std::sort(runs.begin(), runs.end(),
              [](const seq_run& a, const seq_run& b) { return a.first < b.first; });
    std::vector<seq_run> merged;
    merged.reserve(runs.size());
    for (const seq_run& r : runs) {
        if (!merged.empty() && r.first <= merged.back().last + 1) {
            merged.back().last = std::max(merged.back().last, r.last);
        } else {
            merged.push_back(r);
        }
    }
    runs = std::move(merged);
}

bool in_runs(const std::vector<seq_run>& runs, std::uint64_t seq) {
    const auto it = std::upper_bound(runs.begin(), runs.end(), seq,
                                     [](std::uint64_t s, const seq_run& r) { return s < r.first; });
    return it != runs.begin() && std::prev(it)->last >= seq;
}

coverage_result account_batch(const coverage_input& in) {
    coverage_result out;
    std::vector<seq_run> accounted = in.ahead;
    for (const std::uint64_t s : in.batch_seqs) {
        accounted.push_back({s, s});
    }
    merge_runs(accounted);
    out.covered = new_watermark(in, accounted);

    // (covered, new covered] minus what earlier batches or gap records accounted for...
    std::uint64_t next = in.covered + 1;
    for (const seq_run& a : in.ahead) {
        if (a.first > out.covered) {
            break;
        }
        if (a.last < next) {
            continue;
        }
        if (a.first > next) {
            out.runs.push_back({next, a.first - 1});
        }
        next = a.last + 1;
    }
    if (next <= out.covered) {
        out.runs.push_back({next, out.covered});
    }
    // ...plus every reading this batch carries, wherever it lies.
    for (const std::uint64_t s : in.batch_seqs) {
        out.runs.push_back({s, s});
    }
    merge_runs(out.runs);

    for (const seq_run& a : accounted) {
        if (a.last > out.covered) {
            out.ahead.push_back({std::max(a.first, out.covered + 1), a.last});
        }
    }
    return out;
}

std::uint64_t first_seq_not_carried(std::uint64_t covered,
                                    const std::vector<std::uint64_t>& batch_seqs) {
    std::uint64_t x = covered + 1;
    auto it = std::lower_bound(batch_seqs.begin(), batch_seqs.end(), x);
    while (it != batch_seqs.end() && *it == x) {
        ++x;
        ++it;
    }
    return x;
}

}  // namespace fogbridge
