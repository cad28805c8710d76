// Decoding and validation of device payloads (readings, alerts, status, health); pure, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/reading.hpp"
#include "validate/alert.hpp"
#include "validate/decode_settings.hpp"
#include "validate/reject.hpp"

namespace fogbridge {

// One message to decode: the device its topic names and the payload it carries.
struct device_message {
    std::string_view device;
    std::string_view payload;
};

struct decoded_readings {
    std::vector<reading> readings;
    std::vector<rejection> rejects;
};

// A payload on devices/<device>/readings: one reading object or an array of them. `message.device`
// is the (already valid) id from the topic, `now` the gateway clock in seconds since the epoch.
//
// Whole-message problems (too_large, invalid_utf8, too_deep, bad_json, too_many) give exactly one
// rejection and no readings; a scalar or string at the top is not_object. In an array each element
// is judged alone, its rejection carries the element's index. Per reading, fields are checked in
// this order and the first problem decides:
//   boot (integer 0..2^53-1), seq (integer 1..2^53-1): missing_field / wrong_type (not a number,
//       or not integral such as 7.5; 7.0 is fine) / bad_seq (out of range, including 1e400) /
//       not_finite (a NaN or Infinity literal);
//   device (optional string): wrong_type / device_mismatch when it differs from the topic;
//   sensor: missing_field / wrong_type / bad_id;
//   value: missing_field / wrong_type / not_finite (1e400, null, "NaN", "Infinity", "inf", and the
//       literals NaN, Infinity, -Infinity, nan, inf that some encoders write although not JSON);
//   unit (optional): wrong_type if not a string, longer than 16 characters or with control chars;
//   ts: missing_field / wrong_type / not_finite / ts_out_of_window, outside
//       [now - max_past_s, now + max_future_s] (both edges included).
// A non-finite literal in a string field is not_finite too. Unknown fields are ignored, whatever
// they hold (they are not stored); with duplicate keys the last one wins; optional fields set to
// null count as absent. A rejection carries boot and seq when both were valid. Never throws.
decoded_readings decode_readings(device_message message, double now,
                                 const decode_settings& settings);

// A payload on devices/<device>/alerts: one object with sensor, value, ts, boot (required),
// threshold, unit, rule (at most 64 characters), seq, device (optional), with the same rules and
// order of checks as a reading (threshold after value, rule after unit). Never throws.
std::variant<alert, rejection> decode_alert(device_message message, double now,
                                            const decode_settings& settings);

// `cleared`: an empty payload, which is how MQTT deletes a retained message (an operator clearing
// a board's retained status); it is delivered like any message and is not an error.
enum class device_status { online, offline, cleared };

std::string_view to_string(device_status s);

// A payload on devices/<device>/status: exactly "online" or "offline" (surrounding ASCII
// whitespace allowed), or empty. Larger than the limit is too_large, invalid UTF-8 invalid_utf8,
// anything else wrong_type. Never throws.
std::variant<device_status, rejection> decode_status(std::string_view payload,
                                                     const decode_settings& settings);

struct device_health {
    std::string json;  // the document re-encoded, compact: what goes upstream
};

// A payload on devices/<device>/health (schemas/device-health.json): the whole-message checks of
// a reading (too_large before anything else, invalid_utf8, too_deep, bad_json), one object
// (not_object), then, each optional: boot (integer 0..2^53-1: wrong_type / bad_seq), device
// (device_mismatch when it differs from the topic), ts (not_finite / ts_out_of_window),
// battery, uptime_s, rssi, cpu, memory (finite numbers: wrong_type / not_finite); other fields
// are passed on, but nothing anywhere may be NaN, infinite or too large for a double
// (not_finite). The accepted document is re-encoded rather than passed on as bytes, so the cloud
// reads exactly what was checked (with duplicate keys, the last one). Never throws.
std::variant<device_health, rejection> decode_health(device_message message, double now,
                                                     const decode_settings& settings);

}  // namespace fogbridge
