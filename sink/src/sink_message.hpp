// What fogbridge-sink makes of one MQTT message: the topic and payload (JSON or a zstd frame of
// JSON) checked and parsed into rows for the database, or a reject with its reason. Pure, no
// I/O; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fogbridge::sink {

struct reading_row {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
    std::string sensor;
    double ts = 0;
    std::optional<double> value;
    std::optional<std::string> unit;
};

struct range_row {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

// A reading or range left out of an otherwise good message, and why.
struct partial_reject {
    std::string reason;
    std::string detail;
};

// A refused reading whose (device, boot, seq) could still be read: the audit lists it missing.
struct refused_key {
    std::string device;
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
};

struct batch_message {
    std::string gateway;
    std::string batch_id;
    bool replay = false;
    std::optional<double> created;
    bool compressed = false;
    std::vector<reading_row> readings;
    std::vector<range_row> ranges;
    std::vector<partial_reject> rejected;
    std::vector<refused_key> refused;
};

struct gap_row {
    std::string device;
    std::uint64_t boot = 0;
    std::string reason;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t count = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> dropped;
    std::string dropped_json;
};

struct gaps_message {
    std::string gateway;
    std::string gap_id;
    std::vector<gap_row> gaps;
    std::vector<partial_reject> rejected;
};

struct alert_message {
    std::string gateway;
    std::string device;
    std::optional<double> ts;
    std::string body;  // the JSON as received
};

// A gateway's health report (device empty) or a device's, relayed by its gateway.
struct health_message {
    std::string gateway;
    std::string device;
    std::optional<double> ts;
    std::string body;
};

struct status_message {
    std::string gateway;
    std::string status;  // "online" or "offline"
};

struct rejected_message {
    std::string gateway;  // "" when the topic names none
    std::string reason;   // a short word: bad_json, bad_type, too_large, ...
    std::string detail;
};

using message = std::variant<batch_message, gaps_message, alert_message, health_message,
                             status_message, rejected_message>;

struct parse_limits {
    std::size_t max_payload_bytes = std::size_t{16} << 20U;
    std::size_t max_readings = 100000;
};

// zstd frames start with 28 B5 2F FD; JSON text never does.
bool is_zstd(std::string_view payload);
// A device, gateway or sensor id: 1..64 of A-Z a-z 0-9 _ . : -
bool valid_id(std::string_view s);

// One message as it came off the broker; named fields, so topic and payload cannot trade places.
struct raw_message {
    std::string_view topic;
    std::string_view payload;
};

// prefix: the topic prefix the gateways publish under (sink.mqtt.prefix).
message parse_message(std::string_view prefix, const raw_message& raw, const parse_limits& limits);

// Where a sink subscribes: the gateways' topic prefix and the shared-subscription group.
struct subscription_scope {
    std::string_view prefix;
    std::string_view share_group;  // empty: no shared subscription
};

// The topic filters a sink subscribes to, under $share/<group>/ when group is not empty.
std::vector<std::string> subscriptions(const subscription_scope& scope);

}  // namespace fogbridge::sink
