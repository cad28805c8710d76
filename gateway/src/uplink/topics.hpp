// The upstream topics: one template per stream ({prefix}, {gateway}, {device}, {stream}), Azure's
// property bag, and the largest payload a PUBLISH may carry. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "uplink/broker_limits.hpp"
#include "uplink/cloud_settings.hpp"

namespace fogbridge {

// The upstream streams, each with its own topic template (cloud.topics.<name>).
enum class upstream_stream { batch, gaps, alerts, health, status, device_health };
inline constexpr std::size_t upstream_stream_count = 6;
std::string_view to_string(upstream_stream s);

// <prefix>/<gateway>/<stream>, device health under devices/<id>/health: the generic templates.
inline constexpr std::array<std::string_view, upstream_stream_count> generic_topics = {
    "{prefix}/{gateway}/{stream}", "{prefix}/{gateway}/{stream}",
    "{prefix}/{gateway}/{stream}", "{prefix}/{gateway}/{stream}",
    "{prefix}/{gateway}/{stream}", "{prefix}/{gateway}/devices/{device}/health"};

// Bytes of a PUBLISH besides its payload at most: fixed header, topic and properties.
inline constexpr std::size_t publish_envelope_bytes = 1024;

// How placeholder values are put into a topic: as they are, or percent-encoded (a property bag).
enum class value_encoding { raw, url };
struct topic_values {
    std::string_view prefix;
    std::string_view gateway;
    std::string_view device;
    std::string_view stream;
};

// The template with {prefix}, {gateway}, {device} and {stream} replaced; nullopt when it holds
// another placeholder or an unpaired brace.
std::optional<std::string> render_topic(std::string_view tmpl, const topic_values& values,
                                        value_encoding encoding = value_encoding::raw);

// Percent-encoding of RFC 3986 (unreserved characters kept).
std::string url_encode(std::string_view text);

// Azure IoT Hub's property bag as its MQTT page writes it: "$.ct=<type>&$.ce=<encoding>&batch_id=
// <id>", values URL-encoded.
struct property_bag {
    std::string_view batch_id;
    std::string_view content_type;
    std::string_view content_encoding{};  // empty: left out
};
std::string azure_property_bag(const property_bag& bag);
// The topic with a property bag appended ("&" between it and an earlier one).
std::string with_property_bag(std::string_view topic, std::string_view bag);

// The topic of one upstream message, from the settings' (checked) templates.
std::string upstream_topic(const cloud_settings& cloud, std::string_view gateway_id,
                           upstream_stream stream, std::string_view device = {});

// Largest batch payload the uplink may build: the least of batch.max_bytes,
// cloud.max_message_bytes and the broker's announced Maximum Packet Size (0 = none announced)
// less 1 KiB for fixed header, topic and properties.
std::size_t upstream_payload_limit(const cloud_settings& cloud, std::size_t batch_max_bytes,
                                   const broker_limits& broker);

}  // namespace fogbridge
