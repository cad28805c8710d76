#include "validate/topic.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace fogbridge {
namespace {

constexpr std::string_view prefix = "devices/";
constexpr std::size_t max_id_length = 64;

constexpr std::array<std::pair<std::string_view, topic_kind>, 4> kinds{{
    {"readings", topic_kind::readings},
    {"alerts", topic_kind::alerts},
    {"status", topic_kind::status},
    {"health", topic_kind::health},
}};

bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

std::optional<topic_kind> kind_of(std::string_view name) {
    for (const auto& [text, kind] : kinds) {
        if (name == text) return kind;
    }
    return std::nullopt;
}

// Splits devices/<id>/<kind> into its id and kind name; nullopt if the shape is wrong.
std::optional<std::pair<std::string_view, std::string_view>> split(std::string_view topic) {
    if (!topic.starts_with(prefix)) return std::nullopt;
    topic.remove_prefix(prefix.size());
    const auto slash = topic.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    return std::pair{topic.substr(0, slash), topic.substr(slash + 1)};
}

}  // namespace

std::string_view to_string(topic_kind k) {
    for (const auto& [text, kind] : kinds) {
        if (kind == k) return text;
    }
    return "unknown";
}

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > max_id_length) return false;
    return std::ranges::all_of(id, id_char);
}

std::optional<device_topic> parse_device_topic(std::string_view topic) {
    const auto parts = split(topic);
    if (!parts || !valid_id(parts->first)) return std::nullopt;
    const auto kind = kind_of(parts->second);
    if (!kind) return std::nullopt;
    return device_topic{std::string(parts->first), *kind};
}

reject_reason topic_reject_reason(std::string_view topic) {
    const auto parts = split(topic);
    if (parts && kind_of(parts->second) && !valid_id(parts->first)) return reject_reason::bad_id;
    return reject_reason::unknown_topic;
}

}  // namespace fogbridge
