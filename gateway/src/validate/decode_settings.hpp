// Limits for decoding device payloads; a plain settings struct.
#pragma once

#include <cstddef>

namespace fogbridge {

struct decode_settings {
    std::size_t max_payload_bytes = 65536;  // checked before anything else
    std::size_t max_depth = 4;              // nesting of arrays/objects; checked before parsing
    std::size_t max_readings_per_message = 1000;
    double max_future_s = 300;       // ts may be at most this far ahead of the gateway clock
    double max_past_s = 30 * 86400;  // and at most this far behind
    // A reading that carries "up" and whose ts is before 2020 or further than this from the
    // gateway clock is placed on the gateway clock (board_clock) instead of being judged by ts.
    // Hours, not minutes: a replay of readings an hour old keeps its own timestamps.
    double max_clock_skew_s = 6 * 3600;
    // Rejects each device may publish on gateways/<gw>/rejects: per second, and at once. All are
    // counted; 0 = no limit.
    double rejects_per_s = 10;
    double rejects_burst = 100;
    // Quotas per device (0 = no limit): sensor names, boots tracked at once, and how long the
    // least recently seen boot must be quiet before a new boot may take its place.
    std::size_t max_series_per_device = 1000;
    std::size_t max_boots_per_device = 16;
    double boot_idle_s = 60;
    // Alerts and device health reports each device may send upstream: per second, and at once.
    // The rest are counted; the next one sent says how many were held back. 0 = no limit.
    double alerts_per_s = 1;
    double alerts_burst = 20;
    double health_per_s = 0.2;
    double health_burst = 5;
};

}  // namespace fogbridge
