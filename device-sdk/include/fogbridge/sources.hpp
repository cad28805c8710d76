// Reading sources for board programs: a seeded simulator, Linux sysfs sensors (IIO and thermal
// zones) and the battery's charge. Pure apart from sysfs file reads; not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace fogbridge {

struct source_reading {
    std::string sensor;
    double value = 0.0;
    std::string unit;
    double ts = 0.0;

    bool operator==(const source_reading&) const = default;
};

// A random walk pulled back toward the baseline, plus measurement noise, clamped and rounded.
struct simulated_sensor {
    std::string name;
    std::string unit;
    double baseline = 0.0;
    double walk_step = 0.0;  // standard deviation of the walk per sample
    double reversion = 0.0;  // share of the distance to the baseline recovered per sample
    double noise = 0.0;      // standard deviation of the noise
    double min = 0.0;
    double max = 0.0;
    int decimals = 2;
};

// temperature (C, around 21.5) and humidity (%RH, around 45).
std::vector<simulated_sensor> default_simulated_sensors();

struct simulated_settings {
    std::uint64_t seed = 1;
    std::vector<simulated_sensor> sensors = default_simulated_sensors();
};

// The same seed gives the same values on every platform (own normal draws from mt19937_64).
class simulated_source final {
  public:
    explicit simulated_source(simulated_settings settings);

    // One reading per sensor, stamped ts.
    std::vector<source_reading> sample(double ts);

  private:
    double normal();

    simulated_settings settings_;
    std::vector<double> levels_;
    std::mt19937_64 rng_;
};

struct sysfs_settings {
    std::filesystem::path root = "/sys";
};

struct sysfs_channel {
    std::string
        sensor;  // temperature, humidity (first IIO device), temperature_iio3, thermal_zone0
    std::string unit;
    std::filesystem::path file;
    double divisor = 1000.0;  // the files hold milli-units
};

struct sysfs_sample {
    std::vector<source_reading> readings;
    std::vector<std::string> errors;  // one line per file that could not be read or parsed
};

// Finds bus/iio/devices/iio:device*/in_temp_input (milli-degrees C),
// in_humidityrelative_input (milli-%RH) and class/thermal/thermal_zone*/temp (milli-degrees C).
class sysfs_source final {
  public:
    explicit sysfs_source(sysfs_settings settings = {});

    const std::vector<sysfs_channel>& channels() const { return channels_; }
    void rescan();
    sysfs_sample sample(double ts) const;

  private:
    sysfs_settings settings_;
    std::vector<sysfs_channel> channels_;
};

// Charge in % of the first battery under root/class/power_supply (by name: a supply whose `type`
// is Battery, with a `capacity` file); nullopt when there is none or it does not read as 0..100.
std::optional<double> read_battery_capacity(const std::filesystem::path& root = "/sys");

}  // namespace fogbridge
