#include "config/cloud_profile.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "config/config.hpp"

namespace fogbridge {
namespace {

// IoT Hub takes telemetry on one topic only; the stream travels in the property bag.
constexpr std::array<std::string_view, upstream_stream_count> azure_hub_topics = {
    "devices/{gateway}/messages/events/stream={stream}",
    "devices/{gateway}/messages/events/stream={stream}",
    "devices/{gateway}/messages/events/stream={stream}",
    "devices/{gateway}/messages/events/stream={stream}",
    "devices/{gateway}/messages/events/stream={stream}",
    "devices/{gateway}/messages/events/stream={stream}&device={device}"};

constexpr std::size_t mqtt_max = 268435455;  // MQTT's own limit on a packet's remaining length
constexpr std::size_t envelope = publish_envelope_bytes;

// Figures and their sources: docs/clouds.md.
constexpr auto profiles = std::to_array<cloud_profile>({
    {.name = "generic", .max_message_bytes = mqtt_max, .topics = generic_topics},
    {.name = "aws-iot-core",
     .max_message_bytes = 131072,
     .max_window = 100,
     .max_publish_rate = 100,
     .keepalive_min = 30,
     .keepalive_max = 1200,
     .max_topic_bytes = 256,
     .max_topic_slashes = 7,
     .dollar_prefix = "$aws/rules/",
     .alpn_443 = "x-amzn-mqtt-ca",
     .client_id = client_id_rule::thing_name,
     .topics = generic_topics},
    {.name = "azure-iot-hub",
     .max_message_bytes = 262144 - envelope,
     .keepalive_max = 1177,
     .retain_allowed = false,
     .retain_default = false,
     .mqtt5 = false,
     .default_version = 4,
     .fixed_topic = "devices/{client_id}/messages/events/",
     .username_form = "{host}/{client_id}/?api-version=2021-04-12",
     .username_required = true,
     .port_443 = false,
     .client_id = client_id_rule::device_id,
     .encoding = value_encoding::url,
     .topics = azure_hub_topics},
    {.name = "azure-event-grid",
     .max_message_bytes = 524288 - envelope,
     .max_window = 1000,
     .max_publish_rate = 1000,
     .keepalive_max = 1160,
     .retain_default = false,
     .dollar_prefix = "",
     .username_form = "{client_id}",
     .port_443 = false,
     .topics = generic_topics},
    {.name = "hivemq", .max_message_bytes = 262144, .topics = generic_topics},
    {.name = "emqx",
     .max_message_bytes = 1048576 - envelope,
     .max_topic_slashes = 127,
     .topics = generic_topics},
});

std::string replace_all(std::string text, std::string_view what, std::string_view with) {
    for (auto at = text.find(what); at != std::string::npos;
         at = text.find(what, at + with.size())) {
        text.replace(at, what.size(), with);
    }
    return text;
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        if (c == 0) return false;  // MQTT forbids U+0000 in a topic
        if (c < 0x80) {
            n = 1;
        } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
            n = 2;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
        } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
            n = 4;
        } else {
            return false;
        }
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

bool thing_name(std::string_view s) {
    if (s.empty() || s.size() > 128) return false;
    return std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == ':' || ch == '_' ||
               ch == '-';
    });
}

std::string fill(std::string_view form, const endpoint_settings& e) {
    return replace_all(replace_all(std::string(form), "{host}", e.host), "{client_id}",
                       e.client_id);
}

}  // namespace

const cloud_profile* find_cloud_profile(std::string_view name) {
    for (const auto& p : profiles) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

std::string profile_names() {
    std::string out;
    for (const auto& p : profiles) out += fmt::format("{}\"{}\"", out.empty() ? "" : ", ", p.name);
    return out;
}

std::optional<std::string> topic_problem(const cloud_profile& p, const publish_target& target) {
    const auto [topic, client_id] = target;
    if (topic.empty()) return "a topic must not be empty";
    if (!valid_utf8(topic)) return "a topic must be valid UTF-8 without U+0000";
    if (topic.find_first_of("+#") != std::string_view::npos) {
        return "a topic to publish to holds no wildcard (+ or #)";
    }
    if (topic.size() > p.max_topic_bytes) {
        return fmt::format("{} allows topics of at most {} bytes", p.name, p.max_topic_bytes);
    }
    auto counted = topic;
    if (topic.front() == '$') {
        if (p.dollar_prefix.empty() || topic.rfind(p.dollar_prefix, 0) != 0) {
            return p.dollar_prefix.empty()
                       ? fmt::format("{} keeps topics that start with $ for itself", p.name)
                       : fmt::format("{} allows $ at the start only as {}<rule>/", p.name,
                                     p.dollar_prefix);
        }
        // The Basic Ingest prefix does not count towards the slashes.
        const auto rule_end = topic.find('/', p.dollar_prefix.size());
        counted = rule_end == std::string_view::npos ? "" : topic.substr(rule_end + 1);
    }
    const auto slashes = std::count(counted.begin(), counted.end(), '/');
    if (p.max_topic_slashes > 0 && slashes > p.max_topic_slashes) {
        return fmt::format("{} allows at most {} slashes in a topic", p.name, p.max_topic_slashes);
    }
    if (!p.fixed_topic.empty()) {
        const auto head = replace_all(std::string(p.fixed_topic), "{client_id}", client_id);
        if (topic.rfind(head, 0) != 0) {
            return fmt::format("{} takes messages only on {}<property bag>", p.name, head);
        }
    }
    return std::nullopt;
}

namespace {

std::string in_quotes(const std::string& s) { return fmt::format("\"{}\"", s); }

std::optional<std::string> check_limits(const cloud_profile& p, const cloud_settings& c) {
    const auto& e = c.endpoint;
    if (c.max_message_bytes < 1024 || c.max_message_bytes > p.max_message_bytes) {
        return fmt::format("cloud.max_message_bytes = {}: {} takes 1024 to {} payload bytes",
                           c.max_message_bytes, p.name, p.max_message_bytes);
    }
    if (p.max_window > 0 && c.window > p.max_window) {
        return fmt::format("cloud.window = {}: {} allows at most {} unacknowledged publishes",
                           c.window, p.name, p.max_window);
    }
    if (p.max_publish_rate > 0 && (c.publish_rate <= 0 || c.publish_rate > p.max_publish_rate)) {
        return fmt::format("cloud.publish_rate = {}: {} allows at most {} publishes a second",
                           c.publish_rate, p.name, p.max_publish_rate);
    }
    if (e.keepalive < p.keepalive_min || e.keepalive > p.keepalive_max) {
        return fmt::format("cloud.keepalive = {}: {} allows {}-{} s", e.keepalive, p.name,
                           p.keepalive_min, p.keepalive_max);
    }
    if (c.mqtt_version == 5 && !p.mqtt5) {
        return fmt::format("cloud.mqtt_version = \"5\": {} speaks MQTT 3.1.1 only", p.name);
    }
    if (c.mqtt_version == 4 && !p.mqtt311) {
        return fmt::format("cloud.mqtt_version = \"3.1.1\": {} speaks MQTT 5 only", p.name);
    }
    if (c.retain_status && !p.retain_allowed) {
        return fmt::format("cloud.retain = {}: {} keeps no retained messages", in_quotes(c.retain),
                           p.name);
    }
    return std::nullopt;
}

std::optional<std::string> check_identity(const cloud_profile& p, const endpoint_settings& e) {
    if (e.port == 443 && !p.port_443) {
        return fmt::format("cloud.port = 443: {} takes MQTT over TLS on 8883 (443 is WebSockets)",
                           p.name);
    }
    if (e.port == 443 && !p.alpn_443.empty() && e.tls.alpn != p.alpn_443) {
        return fmt::format("cloud.alpn = {}: {} takes MQTT on port 443 only with ALPN {}",
                           in_quotes(e.tls.alpn), p.name, p.alpn_443);
    }
    if (p.client_id == client_id_rule::thing_name && !thing_name(e.client_id)) {
        return fmt::format(
            "cloud.client_id = {}: {} takes the thing name ([A-Za-z0-9:_-], 1-128 bytes)",
            in_quotes(e.client_id), p.name);
    }
    if (p.client_id == client_id_rule::device_id && e.client_id.size() > 128) {
        return fmt::format("cloud.client_id = {}: {} device ids are at most 128 bytes",
                           in_quotes(e.client_id), p.name);
    }
    if (!p.username_required) return std::nullopt;
    auto want = fill(p.username_form, e);
    // The API version may be newer than the one the profile fills in.
    if (const auto v = want.find("api-version="); v != std::string::npos) want.resize(v + 12);
    if (e.username.rfind(want, 0) != 0) {
        return fmt::format("cloud.username = {}: {} takes the user name {}...",
                           in_quotes(e.username), p.name, want);
    }
    return std::nullopt;
}

std::optional<std::string> check_topics(const cloud_profile& p, const gateway_config& c) {
    const std::string longest_device(64, 'd');  // the longest id validate/ lets through
    for (std::size_t i = 0; i < upstream_stream_count; ++i) {
        const auto& tmpl = c.cloud.topics.at(i);
        const auto key = fmt::format("cloud.topics.{}", to_string(static_cast<upstream_stream>(i)));
        const auto topic = render_topic(tmpl,
                                        {c.cloud.topic_prefix, c.id, longest_device,
                                         to_string(static_cast<upstream_stream>(i))},
                                        p.encoding);
        if (!topic) {
            return fmt::format(
                "{} = {}: placeholders are {{prefix}}, {{gateway}}, {{device}} and "
                "{{stream}}",
                key, in_quotes(tmpl));
        }
        if (auto why =
                topic_problem(p, {.topic = *topic, .client_id = c.cloud.endpoint.client_id})) {
            return fmt::format("{} = {} makes {}: {}", key, in_quotes(tmpl), *topic, *why);
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> apply_cloud_profile(gateway_config& c, std::string& mqtt_version) {
    const auto* p = find_cloud_profile(c.cloud.profile);
    if (p == nullptr) {
        return fmt::format("cloud.profile: {} is not one of {}", in_quotes(c.cloud.profile),
                           profile_names());
    }
    auto& cloud = c.cloud;
    auto& e = cloud.endpoint;
    if (cloud.max_message_bytes == 0) cloud.max_message_bytes = p->max_message_bytes;
    if (cloud.publish_rate == 0) cloud.publish_rate = p->max_publish_rate;
    if (mqtt_version.empty()) mqtt_version = p->default_version == 5 ? "5" : "3.1.1";
    if (cloud.retain == "auto") {
        cloud.retain_status = p->retain_default;
    } else if (cloud.retain == "true" || cloud.retain == "false") {
        cloud.retain_status = cloud.retain == "true";
    } else {
        return fmt::format(R"(cloud.retain: {} is not "auto", "true" or "false")",
                           in_quotes(cloud.retain));
    }
    if (e.client_id.empty() && p->client_id != client_id_rule::any) e.client_id = c.id;
    if (e.client_id.empty()) e.client_id = "fogbridge-" + c.id;
    if (e.username.empty() && !p->username_form.empty()) e.username = fill(p->username_form, e);
    if (e.tls.alpn.empty() && e.port == 443) e.tls.alpn = p->alpn_443;
    cloud.url_encoded_topics = p->encoding == value_encoding::url;
    for (std::size_t i = 0; i < upstream_stream_count; ++i) {
        if (cloud.topics.at(i).empty()) cloud.topics.at(i) = p->topics.at(i);
    }
    return std::nullopt;
}

std::optional<std::string> check_cloud_profile(const gateway_config& c) {
    const auto* p = find_cloud_profile(c.cloud.profile);
    if (p == nullptr) {
        return fmt::format("cloud.profile: {} is unknown", in_quotes(c.cloud.profile));
    }
    if (auto why = check_limits(*p, c.cloud)) return why;
    // Every device message must fit one upstream message (an alert, a batch of one reading):
    // a larger one would be refused by the cloud again after every reconnect.
    if (c.validate.max_payload_bytes + envelope > c.cloud.max_message_bytes) {
        return fmt::format(
            "validate.max_payload_bytes = {}: above cloud.max_message_bytes ({}) less {} B for "
            "the batch around a reading; a device message could not go upstream",
            c.validate.max_payload_bytes, c.cloud.max_message_bytes, envelope);
    }
    if (auto why = check_identity(*p, c.cloud.endpoint)) return why;
    return check_topics(*p, c);
}

}  // namespace fogbridge
