#include "store/coverage.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

namespace fogbridge {
namespace {

std::vector<std::uint64_t> sorted_union(const std::vector<std::uint64_t>& a,
                                        const std::vector<std::uint64_t>& b) {
    std::vector<std::uint64_t> out;
    out.reserve(a.size() + b.size());
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

// Highest x such that every seq in (covered, x] is accounted once this batch is sent.
std::uint64_t new_watermark(const coverage_input& in, const std::vector<std::uint64_t>& points) {
    const std::uint64_t stop =
        in.first_unbatched.value_or(std::numeric_limits<std::uint64_t>::max());
    std::uint64_t x = in.covered;
    if (in.processed > x) {
        x = std::min(in.processed, stop - 1);
    }
    for (const std::uint64_t p : points) {
        if (p <= x) {
            continue;
        }
        if (p != x + 1 || p >= stop) {
            break;
        }
        x = p;
    }
    return x;
}

void merge_runs(std::vector<seq_run>& runs) {
    std::sort(runs.begin(), runs.end(),
              [](const seq_run& a, const seq_run& b) { return a.first < b.first; });
    std::vector<seq_run> merged;
    for (const seq_run& r : runs) {
        if (!merged.empty() && r.first <= merged.back().last + 1) {
            merged.back().last = std::max(merged.back().last, r.last);
        } else {
            merged.push_back(r);
        }
    }
    runs = std::move(merged);
}

}  // namespace

coverage_result account_batch(const coverage_input& in) {
    coverage_result out;
    const std::vector<std::uint64_t> points = sorted_union(in.batch_seqs, in.ahead);
    out.covered = new_watermark(in, points);

    // (covered, new covered] minus what earlier batches already reported...
    std::uint64_t next = in.covered + 1;
    for (const std::uint64_t h : in.ahead) {
        if (h > out.covered) {
            break;
        }
        if (h < next) {
            continue;
        }
        if (h > next) {
            out.runs.push_back({next, h - 1});
        }
        next = h + 1;
    }
    if (next <= out.covered) {
        out.runs.push_back({next, out.covered});
    }
    // ...plus every reading this batch carries, wherever it lies.
    for (const std::uint64_t s : in.batch_seqs) {
        out.runs.push_back({s, s});
    }
    merge_runs(out.runs);

    for (const std::uint64_t p : points) {
        if (p > out.covered) {
            out.ahead.push_back(p);
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
