// An alert from a device, as decoded from devices/<id>/alerts; a plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fogbridge {

struct alert {
    std::string device;
    std::string sensor;
    double value = 0.0;
    std::optional<double> threshold;
    std::string unit;  // empty when absent
    std::string rule;  // empty when absent; name of the rule that fired on the device
    double ts = 0.0;
    std::uint64_t boot = 0;
    std::optional<std::uint64_t> seq;

    bool operator==(const alert&) const = default;
};

}  // namespace fogbridge
