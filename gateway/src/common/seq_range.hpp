// The seqs first..last of one (device, boot) that a batch accounts for: carried or filtered.
#pragma once

#include <cstdint>
#include <string>

namespace fogbridge {

struct seq_range {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    bool operator==(const seq_range&) const = default;
};

}  // namespace fogbridge
