// The device health report: its exact encoding and the battery read from sysfs power_supply.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "../scratch_dir.hpp"
#include "fogbridge/protocol.hpp"
#include "fogbridge/sources.hpp"

namespace fs = std::filesystem;
using fogbridge::device_health_report;
using fogbridge::encode_device_health;
using fogbridge::read_battery_capacity;

namespace {

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

device_health_report sample_health() {
    device_health_report h;
    h.ts = 1732630000.1234;
    h.boot = 7;
    h.uptime_s = 3600.5;
    h.buffered = 12;
    h.buffer_capacity = 10000;
    h.reconnects = 2;
    return h;
}

}  // namespace

TEST_CASE("device health: the SDK's figures, and the board's when it gives them") {
    auto h = sample_health();
    CHECK(encode_device_health(h) ==
          R"({"ts":1732630000.123,"boot":7,"uptime_s":3600.5,)"
          R"("buffer":{"readings":12,"capacity":10000},"reconnects":2})");
    h.board.battery_pct = 87.0;
    h.board.rssi_dbm = -67.5;
    CHECK(encode_device_health(h) == R"({"ts":1732630000.123,"boot":7,"uptime_s":3600.5,)"
                                     R"("buffer":{"readings":12,"capacity":10000},"reconnects":2,)"
                                     R"("battery_pct":87,"rssi_dbm":-67.5})");
}

TEST_CASE("device health: values a board cannot mean are left out, not sent") {
    auto h = sample_health();
    h.board.battery_pct = 101.0;
    h.board.rssi_dbm = std::numeric_limits<double>::quiet_NaN();
    CHECK(encode_device_health(h).find("battery") == std::string::npos);
    CHECK(encode_device_health(h).find("rssi") == std::string::npos);
    h.board.battery_pct = -1.0;
    h.board.rssi_dbm = std::numeric_limits<double>::infinity();
    CHECK(encode_device_health(h).find("battery") == std::string::npos);
    CHECK(encode_device_health(h).find("rssi") == std::string::npos);
}

TEST_CASE("battery: the first power supply of type Battery with a capacity") {
    scratch_dir root("fogbridge-power");
    const auto supplies = root.path() / "class/power_supply";
    write_file(supplies / "AC/type", "Mains\n");
    write_file(supplies / "AC/online", "1\n");
    write_file(supplies / "BAT1/type", "Battery\n");
    write_file(supplies / "BAT1/capacity", "42\n");
    write_file(supplies / "BAT0/type", "Battery\n");
    write_file(supplies / "BAT0/capacity", "87\n");
    CHECK(read_battery_capacity(root.path()) == 87.0);
}

TEST_CASE("battery: none, unreadable or out of range gives nothing") {
    scratch_dir root("fogbridge-power");
    CHECK_FALSE(read_battery_capacity(root.path()).has_value());
    const auto supplies = root.path() / "class/power_supply";
    write_file(supplies / "usb/type", "USB\n");
    write_file(supplies / "usb/capacity", "50\n");
    CHECK_FALSE(read_battery_capacity(root.path()).has_value());
    write_file(supplies / "BAT0/type", "Battery\n");
    write_file(supplies / "BAT0/capacity", "full\n");
    CHECK_FALSE(read_battery_capacity(root.path()).has_value());
    write_file(supplies / "BAT0/capacity", "250\n");
    CHECK_FALSE(read_battery_capacity(root.path()).has_value());
    write_file(supplies / "BAT1/type", "Battery\n");
    write_file(supplies / "BAT1/capacity", "0\n");
    CHECK(read_battery_capacity(root.path()) == 0.0);
}
