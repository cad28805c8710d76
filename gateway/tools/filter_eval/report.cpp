#include "filter_eval/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace fogbridge {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json or_null(const std::optional<double>& x) {
    return x ? ordered_json(*x) : ordered_json(nullptr);
}

std::string number(const std::optional<double>& x) { return x ? fmt::format("{:.4g}", *x) : "-"; }

std::string percent(const std::optional<double>& x) { return x ? fmt::format("{:.2f}%", *x) : "-"; }

std::string fewest_cell(const channel_eval& c) {
    return fmt::format("  {:>7}", c.fewest_possible ? std::to_string(*c.fewest_possible) : "-");
}

}  // namespace

std::string format_json(std::span<const channel_eval> channels, bool fewest) {
    ordered_json by_name = ordered_json::object();
    for (const auto& c : channels) {
        by_name[c.name] = {{"readings", c.readings},
                           {"kept", c.kept},
                           {"missing", c.missing},
                           {"reduction_pct", or_null(c.reduction_pct)},
                           {"max_error", or_null(c.max_error)},
                           {"rms_error", or_null(c.rms_error)},
                           {"bound", or_null(c.bound)},
                           {"mode", to_string(c.mode)},
                           {"rule", c.rule}};
        if (fewest) {
            by_name[c.name]["fewest_possible"] =
                c.fewest_possible ? ordered_json(*c.fewest_possible) : ordered_json(nullptr);
        }
    }
    const ordered_json doc = {{"channels", by_name}};
    return doc.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string format_table(std::span<const channel_eval> channels, bool fewest) {
    std::size_t name_width = 7;  // "channel"
    std::size_t rule_width = 4;  // "rule"
    for (const auto& c : channels) {
        name_width = std::max(name_width, c.name.size());
        rule_width = std::max(rule_width, c.rule.size());
    }
    std::string out = fmt::format(
        "{:<{}}  {:<{}}  {:<13}  {:>8}  {:>7}  {:>7}  {:>9}  {:>9}  {:>9}  "
        "{:>9}  {:>7}{}\n",
        "channel", name_width, "rule", rule_width, "mode", "readings", "missing", "kept",
        "heartbeat", "reduction", "max_error", "rms_error", "bound",
        fewest ? fmt::format("  {:>7}", "fewest") : "");
    bool unbounded = false;
    for (const auto& c : channels) {
        unbounded = unbounded || !c.bound;
        out += fmt::format(
            "{:<{}}  {:<{}}  {:<13}  {:>8}  {:>7}  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}  "
            "{:>7}{}\n",
            c.name, name_width, c.rule, rule_width, to_string(c.mode), c.readings, c.missing,
            c.kept, c.kept_heartbeat, percent(c.reduction_pct), number(c.max_error),
            number(c.rms_error), number(c.bound), fewest ? fewest_cell(c) : "");
    }
    if (unbounded) {
        out += "bound -: no absolute bound (deadband_pct only, or min_interval set)\n";
    }
    return out;
}

}  // namespace fogbridge
