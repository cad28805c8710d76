#include "pipeline/device_quota.hpp"

#include <algorithm>
#include <limits>

namespace fogbridge {

quota_verdict device_quota::admit_boot(const std::string& device, std::uint64_t boot, double now) {
    auto& d = devices_[device];
    auto it = std::find_if(d.boots.begin(), d.boots.end(),
                           [&](const boot_seen& b) { return b.boot == boot; });
    if (it != d.boots.end()) {
        it->last = std::max(it->last, now);
        return quota_verdict::admit;
    }
    if (settings_.max_boots == 0 || d.boots.size() < settings_.max_boots) {
        d.boots.push_back({boot, now});
        return quota_verdict::admit;
    }
    // Full: the least recently seen boot gives way only once it has gone quiet, so a board that
    // makes up boots gets at most max_boots per boot_idle_s, while one that reboots keeps going.
    auto oldest =
        std::min_element(d.boots.begin(), d.boots.end(),
                         [](const boot_seen& a, const boot_seen& b) { return a.last < b.last; });
    if (now - oldest->last < settings_.boot_idle_s) return quota_verdict::boot_limit;
    *oldest = {boot, now};
    // Restored beyond the cap (a smaller cap than before a restart): shrink back to it.
    while (d.boots.size() > settings_.max_boots) {
        d.boots.erase(std::min_element(
            d.boots.begin(), d.boots.end(),
            [](const boot_seen& a, const boot_seen& b) { return a.last < b.last; }));
    }
    return quota_verdict::admit;
}

quota_verdict device_quota::admit_series(const reading& r) {
    auto& d = devices_[r.device];
    if (d.series.contains(r.sensor)) return quota_verdict::admit;
    if (settings_.max_series > 0 && d.series.size() >= settings_.max_series) {
        return quota_verdict::series_limit;
    }
    d.series.insert(r.sensor);
    return quota_verdict::admit;
}

void device_quota::restore_series(const std::string& device, const std::string& sensor) {
    devices_[device].series.insert(sensor);
}

void device_quota::restore_boot(const std::string& device, std::uint64_t boot) {
    auto& d = devices_[device];
    const bool known = std::any_of(d.boots.begin(), d.boots.end(),
                                   [&](const boot_seen& b) { return b.boot == boot; });
    if (!known) d.boots.push_back({boot, std::numeric_limits<double>::lowest()});
}

std::size_t device_quota::series(const std::string& device) const {
    const auto it = devices_.find(device);
    return it == devices_.end() ? 0 : it->second.series.size();
}

std::size_t device_quota::boots(const std::string& device) const {
    const auto it = devices_.find(device);
    return it == devices_.end() ? 0 : it->second.boots.size();
}

std::string_view to_string(quota_verdict v) {
    switch (v) {
        case quota_verdict::admit:
            return "admit";
        case quota_verdict::series_limit:
            return "series_limit";
        case quota_verdict::boot_limit:
            return "boot_limit";
    }
    return "unknown";
}

}  // namespace fogbridge
