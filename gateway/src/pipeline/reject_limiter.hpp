// How many rejects each device may have published on the rejects topic: a token bucket per
// device, so one hostile board cannot flood the topic (its rejects are still counted, and the
// next one published says how many were held back). Not thread-safe: the pipeline thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fogbridge {

// A named pair, so that a rate and a burst cannot trade places at a call.
struct reject_limit_settings {
    double per_s = 0;  // how many a device may publish per second on average; 0 = no limit
    double burst = 1;  // how many at once
};

class reject_limiter final {
  public:
    explicit reject_limiter(reject_limit_settings settings)
        : rate_(settings.per_s), burst_(settings.burst) {}

    // nullopt: hold this one back. Otherwise publish it, with the number held back since the
    // device's last published reject.
    std::optional<std::uint64_t> admit(std::string_view device, double now);

  private:
    struct bucket {
        double tokens = 0;
        double last = 0;
        std::uint64_t held = 0;
    };
    void forget_idle(double now);

    double rate_;
    double burst_;
    std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace fogbridge
