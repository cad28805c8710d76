// A run of consecutive seqs first..last of one (device, boot). Thread-safe (a value type).
#pragma once

#include <cstdint>

namespace fogbridge {

struct seq_run {
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    bool operator==(const seq_run&) const = default;
};

}  // namespace fogbridge
