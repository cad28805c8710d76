// Uses the installed device SDK the way a board program does; prints one line and exits 0 when
// the pure parts behave and the MQTT transport can be created (no connection is made).
#include <cstdio>
#include <fogbridge/alerts.hpp>
#include <fogbridge/mqtt_transport.hpp>
#include <fogbridge/protocol.hpp>

int main() {
    const auto topics = fogbridge::topics_for("board-1");
    const auto rule = fogbridge::parse_alert_rule("temperature>30:0.5");
    if (topics.readings != "devices/board-1/readings" || !rule || rule->threshold != 30.0) {
        std::puts("sdk_consumer: unexpected result from the SDK");
        return 1;
    }
    fogbridge::alert_tracker alerts;
    alerts.add(*rule);
    const auto fired = alerts.evaluate("temperature", 31.0, 1.0);
    const auto transport = fogbridge::make_core_transport();
    if (fired.size() != 1 || transport == nullptr) {
        std::puts("sdk_consumer: alert or transport missing");
        return 1;
    }
    std::printf("sdk_consumer: ok (%s, %zu alert)\n", topics.readings.c_str(), fired.size());
    return 0;
}
