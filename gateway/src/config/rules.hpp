// Reads the [filter] section: [filter.default] and the ordered [[filter.rules]]. Not thread-safe.
#pragma once

#include <toml++/toml.h>

#include <vector>

#include "config/config.hpp"

namespace fogbridge {

// Throws config_error naming the rule and key.
filter_settings read_filter_rules(const toml::table& root);
std::vector<key_doc> filter_rule_keys();

}  // namespace fogbridge
