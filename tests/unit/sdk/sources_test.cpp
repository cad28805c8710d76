#include "fogbridge/sources.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using fogbridge::simulated_settings;
using fogbridge::simulated_source;
using fogbridge::source_reading;

namespace {

using fogbridge::test::temp_dir;

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

std::vector<source_reading> run(std::uint64_t seed, int samples) {
    simulated_source s(simulated_settings{seed, fogbridge::default_simulated_sensors()});
    std::vector<source_reading> all;
    for (int i = 0; i < samples; ++i) {
        for (auto& r : s.sample(1000.0 + i)) {
            all.push_back(std::move(r));
        }
    }
    return all;
}

}  // namespace

TEST_CASE("simulated source: the same seed gives the same readings") {
    const auto a = run(42, 200);
    CHECK(a == run(42, 200));
    CHECK(a != run(43, 200));
    REQUIRE(a.size() == 400);
    CHECK(a[0].sensor == "temperature");
    CHECK(a[0].unit == "C");
    CHECK(a[0].ts == 1000.0);
    CHECK(a[1].sensor == "humidity");
    CHECK(a[1].unit == "%RH");
}

TEST_CASE("simulated source: a bounded random walk around the baseline, in two decimals") {
    const auto all = run(7, 5000);
    double temperature_sum = 0.0;
    double humidity_sum = 0.0;
    bool moved = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& r = all[i];
        CHECK(std::round(r.value * 100.0) / 100.0 == r.value);
        if (r.sensor == "temperature") {
            temperature_sum += r.value;
            CHECK(r.value >= -40.0);
            CHECK(r.value <= 85.0);
        } else {
            humidity_sum += r.value;
            CHECK(r.value >= 0.0);
            CHECK(r.value <= 100.0);
        }
        moved = moved || (i >= 2 && r.value != all[i - 2].value);
    }
    CHECK(moved);
    CHECK(std::abs(temperature_sum / 5000 - 21.5) < 1.0);
    CHECK(std::abs(humidity_sum / 5000 - 45.0) < 4.0);
}

TEST_CASE("sysfs source: IIO devices and thermal zones under a root") {
    temp_dir root;
    const auto iio = root.path / "bus/iio/devices";
    write_file(iio / "iio:device0/in_temp_input", "23450\n");
    write_file(iio / "iio:device0/in_humidityrelative_input", "45123\n");
    write_file(iio / "iio:device0/name", "bme280\n");
    write_file(iio / "iio:device10/in_temp_input", "-1500\n");
    write_file(iio / "iio:device2/in_temp_input", "21000\n");
    write_file(iio / "iio:device3/in_voltage0_raw", "512\n");
    const auto thermal = root.path / "class/thermal";
    write_file(thermal / "thermal_zone0/temp", "48000\n");
    write_file(thermal / "thermal_zone1/temp", "garbage\n");
    write_file(thermal / "thermal_zone2/type", "acpitz\n");
    write_file(thermal / "cooling_device0/cur_state", "0\n");

    const fogbridge::sysfs_source source(fogbridge::sysfs_settings{root.path});
    std::vector<std::string> sensors;
    for (const auto& c : source.channels()) {
        sensors.push_back(c.sensor);
    }
    CHECK(sensors == std::vector<std::string>{"temperature", "humidity", "temperature_iio2",
                                              "temperature_iio10", "thermal_zone0",
                                              "thermal_zone1"});
    const auto sample = source.sample(1732630000.5);
    CHECK(sample.readings ==
          std::vector<source_reading>{{"temperature", 23.45, "C", 1732630000.5},
                                      {"humidity", 45.123, "%RH", 1732630000.5},
                                      {"temperature_iio2", 21.0, "C", 1732630000.5},
                                      {"temperature_iio10", -1.5, "C", 1732630000.5},
                                      {"thermal_zone0", 48.0, "C", 1732630000.5}});
    REQUIRE(sample.errors.size() == 1);
    CHECK(sample.errors[0] ==
          (thermal / "thermal_zone1/temp").string() + ": not a number: 'garbage'");
}

TEST_CASE("sysfs source: a root without sensors has no channels") {
    temp_dir root;
    const fogbridge::sysfs_source source(fogbridge::sysfs_settings{root.path});
    CHECK(source.channels().empty());
    CHECK(source.sample(1.0).readings.empty());
}
