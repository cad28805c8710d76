// One sensor reading as it travels through the gateway, identified by (device, boot, seq).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fogbridge {

struct reading {
    std::string device;
    std::string sensor;
    double value = 0.0;
    std::string unit;  // empty when the device sent none
    double ts = 0.0;   // seconds since the epoch, UTC
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
    std::optional<double> up = std::nullopt;  // seconds since the board booted, when sent
    bool ts_from_gateway = false;  // ts mapped from `up` onto the gateway clock (board_clock)

    bool operator==(const reading&) const = default;
};

}  // namespace fogbridge
