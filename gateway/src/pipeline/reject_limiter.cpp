#include "pipeline/reject_limiter.hpp"

#include <algorithm>

namespace fogbridge {
namespace {

// Ids come from topics, so a stream of made-up ids must not grow the map without end.
constexpr std::size_t max_devices = 4096;

}  // namespace

std::optional<std::uint64_t> reject_limiter::admit(std::string_view device, double now) {
    if (rate_ <= 0) return 0;
    auto it = buckets_.find(std::string(device));
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_devices) forget_idle(now);
        it = buckets_.emplace(std::string(device), bucket{burst_, now, 0}).first;
    }
    auto& b = it->second;
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, now - b.last) * rate_);
    b.last = now;
    if (b.tokens < 1) {
        ++b.held;
        return std::nullopt;
    }
    b.tokens -= 1;
    const auto held = b.held;
    b.held = 0;
    return held;
}

void reject_limiter::forget_idle(double now) {
    // A bucket that has refilled holds nothing worth keeping, except a count of held rejects.
    std::erase_if(buckets_, [&](const auto& e) {
        const auto& b = e.second;
        return b.held == 0 && b.tokens + (now - b.last) * rate_ >= burst_;
    });
    // All busy (a flood of distinct ids): start over rather than grow.
    if (buckets_.size() >= max_devices) buckets_.clear();
}

}  // namespace fogbridge
