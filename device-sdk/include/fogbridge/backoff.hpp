// Reconnect delays with decorrelated jitter; pure (the caller owns the rng), not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

namespace fogbridge {

struct backoff_settings {
    std::chrono::milliseconds initial{500};  // lower bound of every delay
    std::chrono::milliseconds max{30000};    // upper bound of every delay
    double multiplier = 3.0;                 // a delay is at most this times the previous one
};

// Decorrelated jitter: each delay is uniform in [initial, previous * multiplier], capped at max,
// so clients that lost the same broker spread out instead of reconnecting in lockstep.
class backoff final {
  public:
    using duration = std::chrono::milliseconds;

    explicit backoff(backoff_settings settings = {})
        : settings_(sanitized(settings)), previous_(settings_.initial) {}

    // Rng is any UniformRandomBitGenerator; the same draws give the same delays on every platform.
    template <class Rng>
    duration next(Rng& rng) {
        const auto lo = static_cast<double>(settings_.initial.count());
        const auto cap = static_cast<double>(settings_.max.count());
        const double hi = std::max(
            lo, std::min(cap, static_cast<double>(previous_.count()) * settings_.multiplier));
        const double u = unit_draw(rng);
        previous_ = duration{std::llround(lo + u * (hi - lo))};
        return previous_;
    }

    // After a connection that worked: start again from the initial delay.
    void reset() { previous_ = settings_.initial; }

    const backoff_settings& settings() const { return settings_; }

  private:
    template <class Rng>
    static double unit_draw(Rng& rng) {
        const auto lo = Rng::min();
        const auto span = static_cast<long double>(Rng::max() - lo);
        if (span <= 0) {
            return 0.0;
        }
        return static_cast<double>(static_cast<long double>(rng() - lo) / span);
    }

    static backoff_settings sanitized(backoff_settings s) {
        s.initial = std::max(s.initial, duration{1});
        s.max = std::max(s.max, s.initial);
        if (!(s.multiplier >= 1.0)) {  // also catches NaN
            s.multiplier = 1.0;
        }
        return s;
    }

    backoff_settings settings_;
    duration previous_;
};

}  // namespace fogbridge
