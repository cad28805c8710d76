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

class reject_limiter final {
  public:
    // rate: rejects per second a device may publish on average; burst: at once. rate 0 = no limit.
    reject_limiter(double rate, double burst) : rate_(rate), burst_(burst) {}

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
