// The uplink's settings: the cloud broker, the MQTT version, the in-flight window, timers and
// compression. Plain values; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "common/endpoint.hpp"

namespace fogbridge {

// How batch payloads go on the wire (cloud.compression).
enum class compression { none, zstd };

struct cloud_settings {
    endpoint_settings endpoint{"127.0.0.1", 8883, "", "", "", 30, {}, false};
    int mqtt_version = 5;  // 5 or 4 (3.1.1)
    std::string topic_prefix = "fogbridge";
    int window = 8;  // batches in flight
    double reconnect_min = 0.5;
    double reconnect_max = 30;
    double connect_timeout = 10;
    double puback_timeout = 30;
    double cert_warn_days = 30;  // warn when the client certificate expires sooner  // data in
                                 // flight and no PUBACK this long: reconnect
    fogbridge::compression compression = compression::none;
    int zstd_level = 3;

    // The cloud's profile (config/cloud_profile.hpp); what the file leaves empty or 0 comes from
    // it.
    std::string profile = "generic";
    std::size_t max_message_bytes = 0;  // payload bytes of one PUBLISH at most
    double publish_rate = 0;            // publishes per second at most; 0 = no limit
    std::string retain = "auto";        // status and health retained: "auto", "true", "false"
    bool retain_status = true;          // the outcome of `retain` and the profile
    bool url_encoded_topics = false;    // Azure IoT Hub: values percent-encoded, a property bag
    std::array<std::string, 6> topics;  // templates, indexed by upstream_stream
};

}  // namespace fogbridge
