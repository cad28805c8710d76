#include "batch/policy.hpp"

namespace fogbridge {

bool batch_due(std::size_t pending_readings, std::size_t pending_bytes,
               std::optional<double> oldest_enqueued, double now, const batch_settings& settings) {
    if (pending_readings == 0) return false;
    if (pending_readings >= settings.max_readings) return true;
    if (pending_bytes >= settings.max_bytes) return true;
    return oldest_enqueued && now - *oldest_enqueued >= settings.max_delay;
}

std::optional<double> batch_deadline(std::optional<double> oldest_enqueued,
                                     const batch_settings& settings) {
    if (!oldest_enqueued) return std::nullopt;
    return *oldest_enqueued + settings.max_delay;
}

}  // namespace fogbridge
