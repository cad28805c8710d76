// Topics and JSON payloads of the device <-> gateway contract (DESIGN.md); pure, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fogbridge/alerts.hpp"
#include "fogbridge/buffer.hpp"

namespace fogbridge {

struct device_topics {
    std::string readings;  // devices/<id>/readings: one reading or an array, QoS 1
    std::string ack;       // devices/<id>/ack: {"boot":B,"seq":S} from the gateway, retained
    std::string status;    // devices/<id>/status: online / offline, retained; offline is the will
    std::string alerts;    // devices/<id>/alerts: QoS 1, not queued behind readings
    std::string health;    // devices/<id>/health: device health JSON
};

device_topics topics_for(std::string_view device_id);

// 1-64 characters of [A-Za-z0-9_.-]: safe inside a topic level, no wildcards.
bool valid_device_id(std::string_view id);
// 1-64 characters of [A-Za-z0-9_.-].
bool valid_sensor_name(std::string_view name);
// 0-32 bytes without control characters.
bool valid_unit(std::string_view unit);

// {"sensor":"temperature","value":21.37,"unit":"C","ts":1732630000.123,"boot":7,"seq":1042}
// unit left out when empty; numbers in shortest round-trip form; ts rounded to the millisecond.
std::string encode_reading(const buffered_reading& reading);
// One reading: the object above; more: a JSON array of such objects, in the given order.
std::string encode_readings(std::span<const buffered_reading> readings);
// {"sensor":"temperature","value":31.2,"threshold":30,"rule":"above","ts":...,"boot":7}
std::string encode_alert(const alert_event& alert, std::uint64_t boot);

struct ack {
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;

    bool operator==(const ack&) const = default;
};

// {"boot":7,"seq":1042} (other keys ignored); nullopt when malformed.
std::optional<ack> parse_ack(std::string_view payload);

}  // namespace fogbridge
