#include <algorithm>
#include <cmath>
#include <numbers>

#include "fogbridge/sources.hpp"

namespace fogbridge {

std::vector<simulated_sensor> default_simulated_sensors() {
    return {
        simulated_sensor{"temperature", "C", 21.5, 0.05, 0.01, 0.02, -40.0, 85.0, 2},
        simulated_sensor{"humidity", "%RH", 45.0, 0.2, 0.01, 0.1, 0.0, 100.0, 2},
    };
}

simulated_source::simulated_source(simulated_settings settings)
    : settings_(std::move(settings)), rng_(settings_.seed) {
    levels_.reserve(settings_.sensors.size());
    for (const auto& s : settings_.sensors) {
        levels_.push_back(s.baseline);
    }
}

double simulated_source::normal() {
    // Box-Muller on 53-bit draws: std::normal_distribution differs between standard libraries.
    constexpr double unit = 1.0 / 9007199254740992.0;                   // 2^-53
    const double u1 = static_cast<double>((rng_() >> 11U) + 1) * unit;  // (0, 1]
    const double u2 = static_cast<double>(rng_() >> 11U) * unit;        // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::vector<source_reading> simulated_source::sample(double ts) {
    std::vector<source_reading> out;
    out.reserve(settings_.sensors.size());
    for (std::size_t i = 0; i < settings_.sensors.size(); ++i) {
        const auto& s = settings_.sensors[i];
        double& level = levels_[i];
        level += s.walk_step * normal() + s.reversion * (s.baseline - level);
        level = std::clamp(level, s.min, s.max);
        const double scale = std::pow(10.0, s.decimals);
        const double noisy = std::clamp(level + s.noise * normal(), s.min, s.max);
        out.push_back(source_reading{s.name, std::round(noisy * scale) / scale, s.unit, ts});
    }
    return out;
}

}  // namespace fogbridge
