#include "batch/policy.hpp"

#include <algorithm>
#include <cmath>

namespace fogbridge {

bool batch_due(const pending_batch& pending, double now, const batch_settings& settings) {
    if (pending.readings == 0) return false;
    if (pending.readings >= settings.max_readings) return true;
    if (pending.bytes >= settings.max_bytes) return true;
    return pending.oldest && now - *pending.oldest >= settings.max_delay;
}

std::optional<double> batch_deadline(std::optional<double> oldest_pending,
                                     const batch_settings& settings) {
    if (!oldest_pending) return std::nullopt;
    return *oldest_pending + settings.max_delay;
}

std::size_t live_window(std::size_t window, bool backlog_waiting) {
    if (!backlog_waiting || window < 2) return window;
    return window - std::max<std::size_t>(1, window / 4);
}

replay_pacer::replay_pacer(const batch_settings& settings)
    : rate_(std::max(settings.replay_rate, 0.0)),
      quantum_(rate_ > 0 ? std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(rate_)), 1,
                                                   std::max<std::size_t>(settings.max_readings, 1))
                         : std::max<std::size_t>(settings.max_readings, 1)) {}

std::size_t replay_pacer::allowance(double now) {
    if (rate_ <= 0) return quantum_;
    if (last_ && now > *last_) credit_ += (now - *last_) * rate_;
    last_ = now;
    credit_ = std::min(credit_, static_cast<double>(quantum_));
    return credit_ >= static_cast<double>(quantum_) ? quantum_ : 0;
}

void replay_pacer::spend(std::size_t readings) {
    if (rate_ > 0) credit_ -= static_cast<double>(readings);
}

void replay_pacer::restart(double now) {
    credit_ = static_cast<double>(quantum_);
    last_ = now;
}

}  // namespace fogbridge
