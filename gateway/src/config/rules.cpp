#include "config/rules.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace fogbridge {
namespace {

struct rule_key {
    std::string_view name;
    std::string_view help;
};

constexpr auto rule_keys = std::to_array<rule_key>({
    {"name", "rule name used in counters (default: the match pattern)"},
    {"match", "glob on device/sensor; * does not cross /; first match wins"},
    {"mode", R"("deadband" or "swinging_door")"},
    {"deadband", "absolute change that forwards a reading; 0 = off"},
    {"deadband_pct", "change in percent of the last forwarded value; 0 = off"},
    {"min_interval", "seconds; never forward a change more often"},
    {"heartbeat", "seconds; forward the newest reading when nothing was forwarded this long"},
    {"deviation", "swinging door: largest error E of the rebuilt line"},
});

std::string where(const toml::node& n) {
    const auto& src = n.source();
    return src.begin ? fmt::format(" (line {})", src.begin.line) : std::string();
}

double number(const toml::node& n, const std::string& name) {
    if (!n.is_number()) throw config_error(fmt::format("{}: expected a number{}", name, where(n)));
    const double v = *n.value<double>();
    if (!std::isfinite(v) || v < 0) {
        throw config_error(fmt::format("{}: must be a finite number >= 0{}", name, where(n)));
    }
    return v;
}

std::string text(const toml::node& n, const std::string& name) {
    if (!n.is_string()) throw config_error(fmt::format("{}: expected a string{}", name, where(n)));
    return *n.value<std::string>();
}

void read_rule_key(filter_rule& r, std::string_view key, const toml::node& v,
                   const std::string& name) {
    if (key == "name") {
        r.name = text(v, name);
    } else if (key == "match") {
        r.match = text(v, name);
    } else if (key == "mode") {
        const auto m = text(v, name);
        if (m == "deadband") {
            r.mode = filter_mode::deadband;
        } else if (m == "swinging_door") {
            r.mode = filter_mode::swinging_door;
        } else {
            throw config_error(fmt::format(R"({}: '{}' is not "deadband" or "swinging_door"{})",
                                           name, m, where(v)));
        }
    } else if (key == "deadband") {
        r.deadband = number(v, name);
    } else if (key == "deadband_pct") {
        r.deadband_pct = number(v, name);
    } else if (key == "min_interval") {
        r.min_interval = number(v, name);
    } else if (key == "heartbeat") {
        r.heartbeat = number(v, name);
    } else if (key == "deviation") {
        r.deviation = number(v, name);
    } else {
        throw config_error(fmt::format("unknown key '{}'{}", name, where(v)));
    }
}

filter_rule read_rule(const toml::node& node, const std::string& prefix, bool is_default) {
    const auto* t = node.as_table();
    if (t == nullptr) throw config_error(fmt::format("{}: must be a table{}", prefix, where(node)));
    filter_rule r;
    for (const auto& [k, v] : *t) {
        if (is_default && k.str() == "match") {
            throw config_error(
                fmt::format("{}.match: the default rule matches everything{}", prefix, where(v)));
        }
        read_rule_key(r, k.str(), v, fmt::format("{}.{}", prefix, k.str()));
    }
    if (r.mode == filter_mode::swinging_door && r.deviation <= 0) {
        throw config_error(
            fmt::format("{}.deviation: swinging_door needs a deviation > 0", prefix));
    }
    if (is_default) {
        r.name = "default";
        r.match = "*/*";
    } else if (r.name.empty()) {
        r.name = r.match;
    }
    return r;
}

}  // namespace

filter_settings read_filter_rules(const toml::table& root) {
    filter_settings s;
    s.default_rule.name = "default";
    const auto* filter = root["filter"].as_table();
    if (filter == nullptr) return s;
    for (const auto& [k, v] : *filter) {
        if (k.str() == "default") {
            s.default_rule = read_rule(v, "filter.default", true);
        } else if (k.str() == "rules") {
            const auto* arr = v.as_array();
            if (arr == nullptr) {
                throw config_error(
                    fmt::format("filter.rules: must be [[filter.rules]] tables{}", where(v)));
            }
            for (std::size_t i = 0; i < arr->size(); ++i) {
                auto rule = read_rule((*arr)[i], fmt::format("filter.rules[{}]", i), false);
                if (rule.match.empty()) {
                    throw config_error(fmt::format("filter.rules[{}].match: required", i));
                }
                s.rules.push_back(std::move(rule));
            }
        } else {
            throw config_error(fmt::format("unknown key 'filter.{}'{}", k.str(), where(v)));
        }
    }
    if (auto problem = check_filter_settings(s)) throw config_error(*problem);
    return s;
}

std::vector<key_doc> filter_rule_keys() {
    std::vector<key_doc> out;
    out.reserve(rule_keys.size());
    for (const auto& k : rule_keys) out.push_back({std::string(k.name), std::string(k.help)});
    return out;
}

}  // namespace fogbridge
