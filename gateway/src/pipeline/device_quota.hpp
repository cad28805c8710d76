// Per-device caps on what a board can make the gateway remember: series (sensor names) and boots.
// A board beyond a cap gets its readings rejected (counted), not more state. Not thread-safe: the
// pipeline thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/reading.hpp"

namespace fogbridge {

struct device_quota_settings {
    std::size_t max_series = 1000;  // distinct sensor names per device; 0 = no limit
    std::size_t max_boots = 16;     // boots of a device tracked at once; 0 = no limit
    // A new boot may take the place of the least recently seen boot of its device once that one
    // has been quiet this long; until then readings of new boots are rejected.
    double boot_idle_s = 60;
};

enum class quota_verdict { admit, series_limit, boot_limit };

class device_quota final {
  public:
    explicit device_quota(device_quota_settings settings) : settings_(settings) {}

    // Whether a reading of (device, boot, sensor) at gateway time `now` may make new state. Admits
    // (and remembers) a new series or boot only while under its cap.
    quota_verdict admit_boot(const std::string& device, std::uint64_t boot, double now);
    quota_verdict admit_series(const reading& r);  // of r.device and r.sensor

    // State restored from the store at start-up: counted against the caps (beyond them too, as
    // the store holds it), boots as long quiet.
    void restore_series(const std::string& device, const std::string& sensor);
    void restore_boot(const std::string& device, std::uint64_t boot);

    std::size_t series(const std::string& device) const;
    std::size_t boots(const std::string& device) const;

  private:
    struct boot_seen {
        std::uint64_t boot = 0;
        double last = 0;
    };
    struct device_state {
        std::unordered_set<std::string> series;
        std::vector<boot_seen> boots;  // at most max_boots, unless restored beyond
    };

    device_quota_settings settings_;
    std::unordered_map<std::string, device_state> devices_;
};

std::string_view to_string(quota_verdict v);

}  // namespace fogbridge
