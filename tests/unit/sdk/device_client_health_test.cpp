// device_client's own health reports, against the scripted fake transport of its other tests.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_client_fake.hpp"
#include "fogbridge/device_client.hpp"

using namespace device_client_fake;

TEST_CASE("device_client: reports its own health with the board's battery and signal") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    auto s = settings_in(dir);
    s.buffer_capacity = 50;
    s.health_interval = 20ms;
    s.read_board_health = [] { return fogbridge::board_health{55.5, -70.0}; };
    device_client client(s, std::make_unique<fake_transport>(broker));
    CHECK(client.publish("temperature", 21.5, "C", 1000.0) == publish_result::queued);
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/health").size() >= 2; }));
    {
        std::lock_guard lock(broker->mutex);
        const auto first = broker->payloads_on("devices/d1/health").front();
        CHECK(first.rfind(R"({"ts":)", 0) == 0);
        CHECK(first.find(R"(,"boot":1,"uptime_s":)") != std::string::npos);
        CHECK(first.find(R"(,"buffer":{"readings":1,"capacity":50},"reconnects":0,)"
                         R"("battery_pct":55.5,"rssi_dbm":-70})") != std::string::npos);
        const auto health =
            std::find_if(broker->published.begin(), broker->published.end(),
                         [](const mqtt_message& m) { return m.topic == "devices/d1/health"; });
        CHECK(health->qos == 0);
        CHECK_FALSE(health->retain);
    }
    broker->drop();
    REQUIRE(broker->wait([&] { return broker->connects == 2; }));
    broker->accept();
    REQUIRE(broker->wait([&] {
        const auto reports = broker->payloads_on("devices/d1/health");
        return reports.back().find(R"("reconnects":1,)") != std::string::npos;
    }));
    client.stop();
}

TEST_CASE("device_client: a board that cannot tell, or throws, still gets the SDK's report") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    auto s = settings_in(dir);
    s.health_interval = 20ms;
    int asked = 0;  // network thread only until stop() joins it
    s.read_board_health = [&asked]() -> fogbridge::board_health {
        if (++asked % 2 == 0) {
            throw std::runtime_error("fuel gauge not answering");
        }
        return {};
    };
    std::vector<std::string> lines;
    std::mutex lines_mutex;
    s.log = [&](std::string_view line) {
        std::lock_guard lock(lines_mutex);
        lines.emplace_back(line);
    };
    device_client client(s, std::make_unique<fake_transport>(broker));
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/health").size() >= 3; }));
    client.stop();
    std::lock_guard lock(broker->mutex);
    for (const auto& report : broker->payloads_on("devices/d1/health")) {
        CHECK(report.find("battery") == std::string::npos);
        CHECK(report.find(R"("reconnects":0})") != std::string::npos);
    }
    std::lock_guard lines_lock(lines_mutex);
    CHECK(std::count(lines.begin(), lines.end(), "board health: fuel gauge not answering") >= 1);
}
