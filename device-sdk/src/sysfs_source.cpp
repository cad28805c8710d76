#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

#include "fogbridge/sources.hpp"
#include "text.hpp"

namespace fogbridge {
namespace {

namespace fs = std::filesystem;

// Entries of `dir` named <prefix><number>, ordered by number (iio:device10 after iio:device2).
std::vector<std::pair<unsigned, fs::path>> numbered_entries(const fs::path& dir,
                                                            std::string_view prefix) {
    std::vector<std::pair<unsigned, fs::path>> found;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
            continue;
        }
        unsigned number = 0;
        const char* first = name.data() + prefix.size();
        const char* last = name.data() + name.size();
        const auto [ptr, err] = std::from_chars(first, last, number);
        if (err == std::errc{} && ptr == last) {
            found.emplace_back(number, it->path());
        }
    }
    std::sort(found.begin(), found.end());
    return found;
}

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> read_text(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream content;
    if (in) {
        content << in.rdbuf();
    }
    if (!in) {
        return std::nullopt;
    }
    return content.str();
}

}  // namespace

sysfs_source::sysfs_source(sysfs_settings settings) : settings_(std::move(settings)) { rescan(); }

void sysfs_source::rescan() {
    channels_.clear();
    bool have_temperature = false;
    bool have_humidity = false;
    for (const auto& [n, dir] :
         numbered_entries(settings_.root / "bus/iio/devices", "iio:device")) {
        const std::string suffix = "_iio" + std::to_string(n);
        if (const auto file = dir / "in_temp_input"; is_file(file)) {
            channels_.push_back(
                {have_temperature ? "temperature" + suffix : "temperature", "C", file, 1000.0});
            have_temperature = true;
        }
        if (const auto file = dir / "in_humidityrelative_input"; is_file(file)) {
            channels_.push_back(
                {have_humidity ? "humidity" + suffix : "humidity", "%RH", file, 1000.0});
            have_humidity = true;
        }
    }
    for (const auto& [n, dir] :
         numbered_entries(settings_.root / "class/thermal", "thermal_zone")) {
        if (const auto file = dir / "temp"; is_file(file)) {
            channels_.push_back({"thermal_zone" + std::to_string(n), "C", file, 1000.0});
        }
    }
}

sysfs_sample sysfs_source::sample(double ts) const {
    sysfs_sample out;
    for (const auto& c : channels_) {
        const auto content = read_text(c.file);
        if (!content) {
            out.errors.push_back(c.file.string() + ": cannot read");
            continue;
        }
        const auto raw = detail::parse_number(*content);
        if (!raw) {
            out.errors.push_back(c.file.string() + ": not a number: '" +
                                 std::string(detail::trim(*content).substr(0, 40)) + "'");
            continue;
        }
        // Dividing keeps 23450 -> 23.45 exact in shortest form (multiplying by 0.001 would not).
        out.readings.push_back(source_reading{c.sensor, *raw / c.divisor, c.unit, ts});
    }
    return out;
}

std::optional<double> read_battery_capacity(const fs::path& root) {
    std::vector<fs::path> supplies;
    std::error_code ec;
    for (fs::directory_iterator it(root / "class/power_supply", ec), end; !ec && it != end;
         it.increment(ec)) {
        supplies.push_back(it->path());
    }
    std::sort(supplies.begin(), supplies.end());
    for (const auto& dir : supplies) {
        const auto type = read_text(dir / "type");
        if (!type || detail::trim(*type) != "Battery") {
            continue;
        }
        const auto capacity = read_text(dir / "capacity");
        const auto pct = capacity ? detail::parse_number(*capacity) : std::nullopt;
        if (pct && *pct >= 0.0 && *pct <= 100.0) {
            return pct;
        }
    }
    return std::nullopt;
}

}  // namespace fogbridge
