#include "fogbridge/alerts.hpp"

#include <cmath>

#include "fogbridge/core/alerts.hpp"
#include "fogbridge/protocol.hpp"
#include "text.hpp"

namespace fogbridge {

std::string_view to_string(alert_direction direction) {
    return direction == alert_direction::above ? "above" : "below";
}

std::optional<alert_rule> parse_alert_rule(std::string_view text) {
    text = detail::trim(text);
    const auto op = text.find_first_of("<>");
    if (op == std::string_view::npos) {
        return std::nullopt;
    }
    alert_rule rule;
    rule.sensor = std::string(detail::trim(text.substr(0, op)));
    rule.direction = text[op] == '>' ? alert_direction::above : alert_direction::below;
    std::string_view rest = text.substr(op + 1);
    std::optional<std::string_view> hysteresis;
    if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
        hysteresis = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
    }
    const auto threshold = detail::parse_number(rest);
    if (!valid_sensor_name(rule.sensor) || !threshold) {
        return std::nullopt;
    }
    rule.threshold = *threshold;
    if (hysteresis) {
        const auto h = detail::parse_number(*hysteresis);
        if (!h || *h < 0.0) {
            return std::nullopt;
        }
        rule.hysteresis = *h;
    }
    return rule;
}

std::size_t alert_tracker::add(alert_rule rule) {
    entries_.push_back(entry{std::move(rule), true});
    return entries_.size() - 1;
}

std::vector<alert_event> alert_tracker::evaluate(std::string_view sensor, double value, double ts) {
    std::vector<alert_event> fired;
    if (!std::isfinite(value)) {
        return fired;
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        entry& e = entries_[i];
        if (e.rule.sensor != sensor) {
            continue;
        }
        const auto direction = e.rule.direction == alert_direction::above
                                   ? core::alert_direction::above
                                   : core::alert_direction::below;
        if (core::alert_step(direction, e.rule.threshold, e.rule.hysteresis, e.armed, value)) {
            fired.push_back(
                alert_event{e.rule.sensor, value, e.rule.threshold, e.rule.direction, ts, i});
        }
    }
    return fired;
}

}  // namespace fogbridge
