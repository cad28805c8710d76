// Local threshold alerts with hysteresis, evaluated on the board; fixed capacity, pure, not
// thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace fogbridge::core {

enum class alert_direction : std::uint8_t { above, below };

inline const char* to_string(alert_direction d) {
    return d == alert_direction::above ? "above" : "below";
}

// Fires when a reading of `sensor` goes above (below) `threshold`; fires again only after the
// value came back past threshold - hysteresis (threshold + hysteresis for `below`).
struct alert_rule {
    std::uint8_t sensor = 0;  // index into the device's sensor table
    alert_direction direction = alert_direction::above;
    double threshold = 0.0;
    double hysteresis = 0.0;
};

struct alert_event {
    std::uint8_t sensor = 0;
    alert_direction direction = alert_direction::above;
    double value = 0.0;
    double threshold = 0.0;
    std::int64_t ts_ms = 0;
    std::uint64_t up_ms = 0;
};

// One rule's decision on one value: true when it fires now. `armed` is the rule's state: a
// firing disarms it; coming back past threshold -/+ hysteresis re-arms it. The Linux SDK's
// alert_tracker decides with this function too.
inline bool alert_step(alert_direction direction, double threshold, double hysteresis, bool& armed,
                       double value) {
    const bool above = direction == alert_direction::above;
    if (armed) {
        const bool beyond = above ? value > threshold : value < threshold;
        armed = !beyond;
        return beyond;
    }
    armed = above ? value <= threshold - hysteresis : value >= threshold + hysteresis;
    return false;
}

template <std::size_t Capacity>
class alert_rules final {
  public:
    bool add(const alert_rule& rule) {
        if (size_ == Capacity) {
            return false;
        }
        rules_[size_] = rule;
        armed_[size_++] = true;
        return true;
    }

    // Feeds one reading to every rule of its sensor; calls fire(alert_event) for each that fires.
    template <class Fire>
    void evaluate(std::uint8_t sensor, double value, std::int64_t ts_ms, std::uint64_t up_ms,
                  Fire&& fire) {
        for (std::size_t i = 0; i < size_; ++i) {
            const alert_rule& r = rules_[i];
            if (r.sensor != sensor) {
                continue;
            }
            if (alert_step(r.direction, r.threshold, r.hysteresis, armed_[i], value)) {
                fire(alert_event{sensor, r.direction, value, r.threshold, ts_ms, up_ms});
            }
        }
    }

    std::size_t size() const { return size_; }
    bool armed(std::size_t i) const { return armed_[i]; }

  private:
    std::array<alert_rule, Capacity> rules_{};
    std::array<bool, Capacity> armed_{};
    std::size_t size_ = 0;
};

}  // namespace fogbridge::core
