// Local threshold alerts with hysteresis, evaluated on the board; pure, not thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fogbridge {

enum class alert_direction { above, below };

std::string_view to_string(alert_direction direction);

// Fires when a reading of `sensor` goes above (below) `threshold`; fires again only after the
// value has come back to threshold - hysteresis (threshold + hysteresis for `below`).
struct alert_rule {
    std::string sensor;
    alert_direction direction = alert_direction::above;
    double threshold = 0.0;
    double hysteresis = 0.0;
};

struct alert_event {
    std::string sensor;
    double value = 0.0;
    double threshold = 0.0;
    alert_direction direction = alert_direction::above;
    double ts = 0.0;
    std::size_t rule = 0;  // index returned by alert_tracker::add

    bool operator==(const alert_event&) const = default;
};

// "temperature>30", "humidity<20", with an optional hysteresis: "temperature>30:0.5".
std::optional<alert_rule> parse_alert_rule(std::string_view text);

class alert_tracker final {
  public:
    // Returns the rule's index; a new rule starts armed.
    std::size_t add(alert_rule rule);

    // Feeds one reading to every rule of its sensor; returns the alerts that fire now.
    std::vector<alert_event> evaluate(std::string_view sensor, double value, double ts);

    std::size_t size() const { return entries_.size(); }
    const alert_rule& rule(std::size_t index) const { return entries_.at(index).rule; }
    bool armed(std::size_t index) const { return entries_.at(index).armed; }

  private:
    struct entry {
        alert_rule rule;
        bool armed = true;
    };
    std::vector<entry> entries_;
};

}  // namespace fogbridge
