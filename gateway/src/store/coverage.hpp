// The accounting of DESIGN.md for one (device, boot): which seq runs a new batch covers. Pure.
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace fogbridge {

struct seq_run {
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    bool operator==(const seq_run&) const = default;
};

struct coverage_input {
    std::uint64_t covered = 0;              // every seq <= covered is accounted by earlier batches
    std::uint64_t processed = 0;            // highest contiguous seq the gateway has processed
    std::vector<std::uint64_t> batch_seqs;  // readings carried by this batch; ascending, unique
    std::vector<std::uint64_t> ahead;  // seqs > covered accounted by earlier batches; ascending
    // Smallest seq > covered held by a reading in no batch yet (and not in `ahead`): coverage
    // must stop before it, or a kept reading would be reported as filtered.
    std::optional<std::uint64_t> first_unbatched;
};

struct coverage_result {
    std::vector<seq_run> runs;         // what this batch accounts for; ascending, maximal
    std::uint64_t covered = 0;         // the new watermark (never lower than the old one)
    std::vector<std::uint64_t> ahead;  // the new `ahead`: accounted seqs above `covered`
};

// Covers (covered, processed] up to the first unbatched reading, plus every carried reading;
// seqs already in `ahead` are not reported again.
coverage_result account_batch(const coverage_input& in);

// The smallest seq > covered that is not in batch_seqs (ascending): where the search for
// coverage_input::first_unbatched can start.
std::uint64_t first_seq_not_carried(std::uint64_t covered,
                                    const std::vector<std::uint64_t>& batch_seqs);

}  // namespace fogbridge
