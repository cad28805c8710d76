#include "filter/filter_settings.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <set>
#include <utility>

namespace fogbridge {
namespace {

std::optional<std::string> check_rule(const filter_rule& rule) {
    if (rule.name.empty()) {
        return "filter rule with an empty name";
    }
    if (rule.match.empty()) {
        return fmt::format("filter rule '{}': empty match", rule.name);
    }
    const std::array<std::pair<const char*, double>, 5> numbers{{
        {"deadband", rule.deadband},
        {"deadband_pct", rule.deadband_pct},
        {"min_interval", rule.min_interval},
        {"heartbeat", rule.heartbeat},
        {"deviation", rule.deviation},
    }};
    for (const auto& [key, value] : numbers) {
        if (!std::isfinite(value) || value < 0) {
            return fmt::format("filter rule '{}': {} must be a finite number >= 0, got {}",
                               rule.name, key, value);
        }
    }
    if (rule.heartbeat > 0 && rule.min_interval > rule.heartbeat) {
        return fmt::format("filter rule '{}': heartbeat ({}) is shorter than min_interval ({})",
                           rule.name, rule.heartbeat, rule.min_interval);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> check_filter_settings(const filter_settings& settings) {
    std::set<std::string, std::less<>> names;
    for (const auto& rule : settings.rules) {
        if (auto error = check_rule(rule)) {
            return error;
        }
        if (rule.name == "default") {
            return "filter rule name 'default' is reserved for the default rule";
        }
        if (!names.insert(rule.name).second) {
            return fmt::format("filter rule '{}' is defined twice", rule.name);
        }
    }
    if (settings.default_rule.name != "default") {
        return fmt::format("the default filter rule must be named 'default', not '{}'",
                           settings.default_rule.name);
    }
    return check_rule(settings.default_rule);
}

std::string_view to_string(filter_mode mode) {
    switch (mode) {
        case filter_mode::deadband:
            return "deadband";
        case filter_mode::swinging_door:
            return "swinging_door";
    }
    return "unknown";
}

std::optional<filter_mode> filter_mode_from_string(std::string_view text) {
    if (text == "deadband") {
        return filter_mode::deadband;
    }
    if (text == "swinging_door") {
        return filter_mode::swinging_door;
    }
    return std::nullopt;
}

}  // namespace fogbridge
