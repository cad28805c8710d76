// Parsing of device topics (devices/<id>/<kind>) and the id rules; pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "validate/reject.hpp"

namespace fogbridge {

enum class topic_kind { readings, alerts, status, health };

struct device_topic {
    std::string device;
    topic_kind kind = topic_kind::readings;

    bool operator==(const device_topic&) const = default;
};

std::string_view to_string(topic_kind k);

// 1..64 characters of [A-Za-z0-9_.:-]; used for device ids and sensor names.
bool valid_id(std::string_view id);

// devices/<id>/readings|alerts|status|health, with a valid id; nullopt otherwise.
std::optional<device_topic> parse_device_topic(std::string_view topic);

// For a topic parse_device_topic refused: bad_id when it has the device-topic shape but an
// invalid id, unknown_topic for anything else.
reject_reason topic_reject_reason(std::string_view topic);

}  // namespace fogbridge
