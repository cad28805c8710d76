// The accounting (docs/architecture.md) for one (device, boot): which seq runs a new batch
// covers. Pure.
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "store/seq_run.hpp"

namespace fogbridge {

struct coverage_input {
    std::uint64_t covered = 0;              // every seq <= covered is accounted by earlier batches
    std::uint64_t processed = 0;            // highest contiguous seq the gateway has processed
    std::vector<std::uint64_t> batch_seqs;  // readings carried by this batch; ascending, unique
    // Seqs > covered accounted already: carried by earlier batches or inside gap records.
    // Ascending, disjoint runs.
    std::vector<seq_run> ahead;
    // Smallest seq > covered held by a reading in no batch yet (and not in `ahead`): coverage
    // must stop before it, or a kept reading would be reported as filtered.
    std::optional<std::uint64_t> first_unbatched;
};

struct coverage_result {
    std::vector<seq_run> runs;   // what this batch accounts for; ascending, maximal
    std::uint64_t covered = 0;   // the new watermark (never lower than the old one)
    std::vector<seq_run> ahead;  // the new `ahead`: accounted runs above `covered`, maximal
};

// Covers (covered, processed] up to the first unbatched reading, plus every carried reading;
// seqs already in `ahead` are not reported again.
coverage_result account_batch(const coverage_input& in);

// The smallest seq > covered that is not in batch_seqs (ascending): where the search for
// coverage_input::first_unbatched can start.
std::uint64_t first_seq_not_carried(std::uint64_t covered,
                                    const std::vector<std::uint64_t>& batch_seqs);

// Sorts runs and merges overlapping and adjacent ones.
void merge_runs(std::vector<seq_run>& runs);

// True when seq lies in one of the runs (ascending, disjoint).
bool in_runs(const std::vector<seq_run>& runs, std::uint64_t seq);

}  // namespace fogbridge
