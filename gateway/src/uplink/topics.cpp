#include "uplink/topics.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>

namespace fogbridge {
namespace {

constexpr std::array<std::string_view, upstream_stream_count> stream_names = {
    "batch", "gaps", "alerts", "health", "status", "device_health"};

}  // namespace

std::string_view to_string(upstream_stream s) { return stream_names.at(static_cast<int>(s)); }

std::string url_encode(std::string_view text) {
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out += ch;
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::optional<std::string> render_topic(std::string_view tmpl, const topic_values& values,
                                        value_encoding encoding) {
    std::string out;
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] == '}') return std::nullopt;
        if (tmpl[i] != '{') {
            out += tmpl[i];
            continue;
        }
        const auto end = tmpl.find('}', i);
        if (end == std::string_view::npos) return std::nullopt;
        const auto name = tmpl.substr(i + 1, end - i - 1);
        std::string_view value;
        if (name == "prefix") {
            value = values.prefix;
        } else if (name == "gateway") {
            value = values.gateway;
        } else if (name == "device") {
            value = values.device;
        } else if (name == "stream") {
            value = values.stream;
        } else {
            return std::nullopt;
        }
        out += encoding == value_encoding::url ? url_encode(value) : std::string(value);
        i = end;
    }
    return out;
}

std::string azure_property_bag(const property_bag& bag) {
    std::string out = "$.ct=" + url_encode(bag.content_type);
    if (!bag.content_encoding.empty()) out += "&$.ce=" + url_encode(bag.content_encoding);
    return out + "&batch_id=" + url_encode(bag.batch_id);
}

std::string with_property_bag(std::string_view topic, std::string_view bag) {
    if (topic.empty() || topic.back() == '/') return std::string(topic) + std::string(bag);
    return fmt::format("{}&{}", topic, bag);
}

std::string upstream_topic(const cloud_settings& cloud, std::string_view gateway_id,
                           upstream_stream stream, std::string_view device) {
    const auto encoding = cloud.url_encoded_topics ? value_encoding::url : value_encoding::raw;
    std::string_view tmpl = cloud.topics.at(static_cast<int>(stream));
    // Settings made in code rather than read (tests, tools) keep the generic topics.
    if (tmpl.empty()) tmpl = generic_topics.at(static_cast<int>(stream));
    return render_topic(tmpl, {cloud.topic_prefix, gateway_id, device, to_string(stream)}, encoding)
        .value_or(std::string());
}

std::size_t upstream_payload_limit(const cloud_settings& cloud, std::size_t batch_max_bytes,
                                   const broker_limits& broker) {
    const std::uint32_t maximum_packet_size = broker.maximum_packet_size;
    auto limit = batch_max_bytes;
    if (cloud.max_message_bytes > 0) limit = std::min(limit, cloud.max_message_bytes);
    if (maximum_packet_size > publish_envelope_bytes) {
        limit = std::min<std::size_t>(limit, maximum_packet_size - publish_envelope_bytes);
    }
    return limit;
}

}  // namespace fogbridge
