// Maps the timestamps of boards without a trustworthy real-time clock onto the gateway's clock,
// from the seconds since boot ("up") the SDK sends with every reading. Pure (times passed in);
// not thread-safe: the pipeline thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/reading.hpp"

namespace fogbridge {

constexpr double earliest_trusted_ts = 1577836800;  // 2020-01-01T00:00:00Z

// A board's own ts cannot be trusted at gateway time `now`: before 2020 (no real-time clock), or
// further than max_skew_s from the gateway clock.
bool ts_untrusted(double ts, double now, double max_skew_s);

struct board_clock_settings {
    // A ts further than this from the gateway clock is not the board's real time.
    double max_skew_s = 6 * 3600;
    // (device, boot) pairs remembered; the least recently seen goes first.
    std::size_t max_boots = 10000;
};

// One boot of one board.
struct board_boot {
    std::string_view device;
    std::uint64_t boot = 0;
};

class board_clock final {
  public:
    explicit board_clock(board_clock_settings s) : settings_(s) {}

    // The board's own ts cannot be trusted at gateway time `now`.
    bool untrusted(double ts, double now) const;

    // A message of (device, boot) arrived at `now`; `newest_up` is the largest "up" among its
    // readings. The board booted at most now - newest_up ago (transport only adds delay), so the
    // smallest such value over the boot's messages is the closest estimate of its boot time.
    void observe(board_boot b, double newest_up, double now);

    // The gateway-clock time of the reading taken `up` seconds after (device, boot) booted;
    // nullopt when no message of that boot was observed.
    std::optional<double> map(board_boot b, double up) const;

    // The readings of one message, received at `now`: every one with "up" is observed, and those
    // whose ts is untrusted get ts = map(up), marked ts_from_gateway.
    void apply(std::vector<reading>& readings, double now);

    std::size_t size() const { return boots_.size(); }

  private:
    struct boot_entry {
        double booted_at = 0;  // gateway clock
        std::uint64_t used = 0;
    };
    void evict();

    board_clock_settings settings_;
    std::map<std::pair<std::string, std::uint64_t>, boot_entry, std::less<>> boots_;
    std::uint64_t uses_ = 0;
};

}  // namespace fogbridge
