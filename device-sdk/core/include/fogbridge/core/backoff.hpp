// Reconnect delays with decorrelated jitter, in integer milliseconds; pure, not thread-safe.
#pragma once

#include <cstdint>

namespace fogbridge::core {

struct backoff_settings {
    std::uint32_t initial_ms = 500;  // lower bound of every delay
    std::uint32_t max_ms = 30000;    // upper bound of every delay
    std::uint32_t multiplier = 3;    // a delay is at most this times the previous one
};

// Each delay is uniform in [initial, previous * multiplier], capped at max, so boards that lost
// the same broker spread out instead of reconnecting in lockstep.
class backoff final {
  public:
    explicit backoff(backoff_settings s = {}) : s_(sanitized(s)), previous_(s_.initial_ms) {}

    // `random` is 32 fresh random bits.
    std::uint32_t next(std::uint32_t random) {
        const std::uint64_t grown = static_cast<std::uint64_t>(previous_) * s_.multiplier;
        const std::uint32_t hi = grown > s_.max_ms ? s_.max_ms : static_cast<std::uint32_t>(grown);
        const std::uint32_t span = hi - s_.initial_ms + 1;
        previous_ = s_.initial_ms +
                    static_cast<std::uint32_t>((static_cast<std::uint64_t>(random) * span) >> 32);
        return previous_;
    }
    void reset() { previous_ = s_.initial_ms; }
    const backoff_settings& settings() const { return s_; }

  private:
    static backoff_settings sanitized(backoff_settings s) {
        s.initial_ms = s.initial_ms == 0 ? 1 : s.initial_ms;
        s.max_ms = s.max_ms < s.initial_ms ? s.initial_ms : s.max_ms;
        s.multiplier = s.multiplier == 0 ? 1 : s.multiplier;
        return s;
    }

    backoff_settings s_;
    std::uint32_t previous_;
};

}  // namespace fogbridge::core
