// Publishes per second at most on one connection (cloud.publish_rate; AWS IoT Core takes 100): a
// token bucket holding one second's worth, on the monotonic clock. Pure; not thread-safe.
#pragma once

#include <algorithm>
#include <optional>

#include "common/clock.hpp"

namespace fogbridge {

class publish_rate final {
  public:
    // 0 or less: no limit.
    explicit publish_rate(double per_s) : per_s_(per_s), tokens_(capacity()) {}

    bool ready(mono_time now) {
        refill(now);
        return per_s_ <= 0 || tokens_ >= 1;
    }
    void spend(mono_time now) {
        if (per_s_ <= 0) return;
        refill(now);
        tokens_ -= 1;
    }
    // When the next publish may go; nullopt when it may go now.
    std::optional<mono_time> ready_at() const {
        if (per_s_ <= 0 || tokens_ >= 1 || !last_) return std::nullopt;
        return *last_ + mono_seconds((1 - tokens_) / per_s_);
    }

  private:
    double capacity() const { return std::max(1.0, per_s_); }
    void refill(mono_time now) {
        if (last_ && now > *last_) {
            tokens_ = std::min(capacity(), tokens_ + to_seconds(now - *last_) * per_s_);
        }
        if (!last_ || now > *last_) last_ = now;
    }

    double per_s_;
    double tokens_;
    std::optional<mono_time> last_;
};

}  // namespace fogbridge
