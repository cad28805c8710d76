// Cloud profiles: each managed broker's documented limits, the upstream topic templates and the
// start-up checks against them (docs/clouds.md). Pure functions over constant tables; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "uplink/topics.hpp"

namespace fogbridge {

struct cloud_settings;
struct gateway_config;

// What the cloud requires of the MQTT client id.
enum class client_id_rule { any, thing_name, device_id };

struct cloud_profile {
    std::string_view name;
    std::size_t max_message_bytes = 0;  // payload bytes of one PUBLISH at most
    int max_window = 0;                 // unacknowledged publishes at once; 0 = not documented
    double max_publish_rate = 0;        // publishes per second per connection; 0 = not documented
    int keepalive_min = 5;
    int keepalive_max = 3600;
    bool retain_allowed = true;
    bool retain_default = true;
    bool mqtt5 = true;        // MQTT 5 accepted
    bool mqtt311 = true;      // MQTT 3.1.1 accepted
    int default_version = 5;  // 5 or 4 (3.1.1)
    std::size_t max_topic_bytes = 65535;
    int max_topic_slashes = 0;         // 0 = no limit
    std::string_view dollar_prefix{};  // the one '$' topic form allowed ("" = none)
    std::string_view fixed_topic{};    // every topic starts so ({client_id} filled in); "" = any
    std::string_view username_form{};  // {host} and {client_id} filled in; "" = free
    bool username_required = false;    // a user name not of username_form is refused
    std::string_view alpn_443{};       // ALPN that carries MQTT on port 443
    bool port_443 = true;              // MQTT over TLS (not WebSockets) is taken on port 443
    client_id_rule client_id = client_id_rule::any;
    value_encoding encoding = value_encoding::raw;
    std::array<std::string_view, upstream_stream_count> topics{};  // default templates
};

// nullptr for an unknown name.
const cloud_profile* find_cloud_profile(std::string_view name);
// "generic", "aws-iot-core", ...: for messages.
std::string profile_names();

// A PUBLISH as a profile sees it: the topic, and the client id that fills a fixed form's
// {client_id}. Named fields, so the two strings cannot trade places.
struct publish_target {
    std::string_view topic;
    std::string_view client_id;
};

// Why `profile` would refuse a PUBLISH to `target.topic` (nullopt: it takes it).
std::optional<std::string> topic_problem(const cloud_profile& profile,
                                         const publish_target& target);

// Fills every cloud key the file left empty or 0 from the profile; `mqtt_version` is the
// unparsed key ("" = the profile's). Returns a one-line problem naming the key.
std::optional<std::string> apply_cloud_profile(gateway_config& c, std::string& mqtt_version);
// The first setting the profile's cloud would reject, as "key = value: rule".
std::optional<std::string> check_cloud_profile(const gateway_config& c);

}  // namespace fogbridge
