// Cloud profiles: each managed broker's documented limits, the upstream topic templates and the
// start-up checks against them (docs/clouds.md). Pure functions over constant tables; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fogbridge {

struct cloud_settings;
struct gateway_config;

// The upstream streams, each with its own topic template (cloud.topics.<name>).
enum class upstream_stream { batch, gaps, alerts, health, status, device_health };
inline constexpr std::size_t upstream_stream_count = 6;
std::string_view to_string(upstream_stream);

// How placeholder values are put into a topic: as they are, or percent-encoded (a property bag).
enum class value_encoding { raw, url };
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

// Why `profile` would refuse a PUBLISH to `topic` (nullopt: it takes it). `client_id` fills the
// fixed form's {client_id}.
std::optional<std::string> topic_problem(const cloud_profile& profile, std::string_view topic,
                                         std::string_view client_id);

// Percent-encoding of RFC 3986 (unreserved characters kept).
std::string url_encode(std::string_view text);

// Azure IoT Hub's property bag as its MQTT page writes it: "$.ct=<type>&$.ce=<encoding>&batch_id=
// <id>", values URL-encoded; an empty content_encoding is left out.
std::string azure_property_bag(std::string_view batch_id, std::string_view content_type,
                               std::string_view content_encoding = {});
// The topic with a property bag appended ("&" between it and an earlier one).
std::string with_property_bag(std::string_view topic, std::string_view bag);

// The topic of one upstream message, from the settings' (checked) templates.
std::string upstream_topic(const cloud_settings& cloud, std::string_view gateway_id,
                           upstream_stream stream, std::string_view device = {});

// Largest batch payload the uplink may build: the least of batch.max_bytes,
// cloud.max_message_bytes and the broker's announced Maximum Packet Size (0 = none announced)
// less 1 KiB for fixed header, topic and properties.
std::size_t upstream_payload_limit(const gateway_config& c, std::uint32_t maximum_packet_size);

// Fills every cloud key the file left empty or 0 from the profile; `mqtt_version` is the
// unparsed key ("" = the profile's). Returns a one-line problem naming the key.
std::optional<std::string> apply_cloud_profile(gateway_config& c, std::string& mqtt_version);
// The first setting the profile's cloud would reject, as "key = value: rule".
std::optional<std::string> check_cloud_profile(const gateway_config& c);

}  // namespace fogbridge
