#include "validate/board_clock.hpp"

#include <algorithm>
#include <cmath>

namespace fogbridge {

bool ts_untrusted(double ts, double now, double max_skew_s) {
    return ts < earliest_trusted_ts || std::abs(ts - now) > max_skew_s;
}

bool board_clock::untrusted(double ts, double now) const {
    return ts_untrusted(ts, now, settings_.max_skew_s);
}

void board_clock::apply(std::vector<reading>& readings, double now) {
    for (const auto& r : readings) {
        if (r.up) observe({.device = r.device, .boot = r.boot}, *r.up, now);
    }
    for (auto& r : readings) {
        if (!r.up || !untrusted(r.ts, now)) continue;
        if (const auto mapped = map({.device = r.device, .boot = r.boot}, *r.up)) {
            r.ts = *mapped;
            r.ts_from_gateway = true;
        }
    }
}

void board_clock::observe(board_boot b, double newest_up, double now) {
    if (!std::isfinite(newest_up) || newest_up < 0) return;
    const double booted_at = now - newest_up;
    auto key = std::make_pair(std::string(b.device), b.boot);
    auto it = boots_.find(key);
    if (it == boots_.end()) {
        if (boots_.size() >= settings_.max_boots) evict();
        boots_.emplace(std::move(key), boot_entry{booted_at, ++uses_});
        return;
    }
    it->second.booted_at = std::min(it->second.booted_at, booted_at);
    it->second.used = ++uses_;
}

std::optional<double> board_clock::map(board_boot b, double up) const {
    const auto it = boots_.find(std::make_pair(std::string(b.device), b.boot));
    if (it == boots_.end()) return std::nullopt;
    // To the millisecond, as up and a device's own ts: finer digits would be noise (the offset
    // is only as good as the transport delay), and on that grid a columnar batch carries the ts
    // as small integer deltas instead of absolute seconds.
    return std::round((it->second.booted_at + up) * 1000.0) / 1000.0;
}

void board_clock::evict() {
    const auto oldest = std::min_element(boots_.begin(), boots_.end(), [](auto& a, auto& b) {
        return a.second.used < b.second.used;
    });
    if (oldest != boots_.end()) boots_.erase(oldest);
}

}  // namespace fogbridge
