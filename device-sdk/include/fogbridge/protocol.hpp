// Topics and JSON payloads of the device <-> gateway contract (docs/architecture.md); pure,
// thread-safe.
#pragma once

#include <cstddef>
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
// unit left out when empty; values to 15 significant digits; ts and up rounded to the
// millisecond. The portable core's encoder (core/delivery.hpp) writes it, for boards alike.
std::string encode_reading(const buffered_reading& reading);
// One reading: the object above; more: a JSON array of such objects, in the given order; none: "".
std::string encode_readings(std::span<const buffered_reading> readings);
// As encode_readings, with as many of the first readings as fit in max_bytes (at least one);
// `count` says how many went in.
std::string encode_readings_within(std::span<const buffered_reading> readings,
                                   std::size_t max_bytes, std::size_t& count);
// {"sensor":"temperature","value":31.2,"threshold":30,"rule":"above","ts":...,"boot":7}
std::string encode_alert(const alert_event& alert, std::uint64_t boot);

// What the board knows about itself that the SDK cannot measure; a value left empty (or not
// finite, or out of range) is left out of the report.
struct board_health {
    std::optional<double> battery_pct;  // state of charge, 0..100
    std::optional<double> rssi_dbm;     // received signal strength of the board's radio link
};

struct device_health_report {
    double ts = 0.0;  // seconds since the epoch, UTC
    std::uint64_t boot = 0;
    double uptime_s = 0.0;            // since the client was made
    std::size_t buffered = 0;         // unacknowledged readings held
    std::size_t buffer_capacity = 0;  // readings the buffer holds at most
    std::uint64_t reconnects = 0;
    board_health board;
};

// {"ts":...,"boot":7,"uptime_s":3600.5,"buffer":{"readings":12,"capacity":10000},
//  "reconnects":2,"battery_pct":87,"rssi_dbm":-67} (schemas/device-health.json)
std::string encode_device_health(const device_health_report& health);

struct ack {
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;

    bool operator==(const ack&) const = default;
};

// {"boot":7,"seq":1042} (other keys ignored); nullopt when malformed.
std::optional<ack> parse_ack(std::string_view payload);

}  // namespace fogbridge
