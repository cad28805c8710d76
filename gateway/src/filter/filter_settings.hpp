// Settings of the significant-change filter: rules chosen by glob on "device/sensor". Plain data.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fogbridge {

enum class filter_mode { deadband, swinging_door };

// One rule. Every number is >= 0; 0 switches the feature off (see significant_change_filter.hpp
// for the exact semantics of each field).
struct filter_rule {
    std::string name;           // counters are kept per name; "default" for the default rule
    std::string match = "*/*";  // glob on "device/sensor": '*' = any run without '/', '?' = one
    filter_mode mode = filter_mode::deadband;
    double deadband = 0;      // absolute; 0 = off
    double deadband_pct = 0;  // percent of |last forwarded value|; 0 = off
    double min_interval = 0;  // seconds between forwarded changes; 0 = off
    double heartbeat = 0;     // seconds; 0 = off (also switches gap detection off)
    double deviation = 0;     // E for swinging_door; 0 = keep every point off the line
};

struct filter_settings {
    std::vector<filter_rule> rules;  // first match wins
    filter_rule default_rule{.name = "default"};
};

// The first problem in the settings as one line naming the rule and key, or nullopt when fine:
// numbers finite and >= 0, names non-empty and unique ("default" only for the default rule),
// patterns non-empty, and heartbeat >= min_interval when both are set.
std::optional<std::string> check_filter_settings(const filter_settings& settings);

std::string_view to_string(filter_mode mode);
std::optional<filter_mode> filter_mode_from_string(std::string_view text);

}  // namespace fogbridge
