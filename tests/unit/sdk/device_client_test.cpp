// device_client against a scripted fake transport: no broker, no sleeps, bounded waits only.
#include "fogbridge/device_client.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_client_fake.hpp"
#include "fogbridge/file_buffer.hpp"

using namespace device_client_fake;

TEST_CASE("device_client: connects, publishes, drains on ack and says offline on stop") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    device_client client(settings_in(dir), std::make_unique<fake_transport>(broker));
    CHECK(client.boot() == 1);
    CHECK(client.publish("temperature", 21.5, "C", 1000.0) == publish_result::queued);
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    {
        std::lock_guard lock(broker->mutex);
        REQUIRE(broker->options.has_value());
        CHECK(broker->options->client_id == "d1");
        REQUIRE(broker->options->will.has_value());
        CHECK(broker->options->will->topic == "devices/d1/status");
        CHECK(broker->options->will->payload == "offline");
        CHECK(broker->options->will->retain);
    }
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 1; }));
    {
        std::lock_guard lock(broker->mutex);
        CHECK(broker->subscribed == std::vector<std::string>{"devices/d1/ack"});
        CHECK(broker->published[0].topic == "devices/d1/status");
        CHECK(broker->published[0].payload == "online");
        CHECK(broker->published[0].retain);
        CHECK(broker->payloads_on("devices/d1/readings")[0] == reading_json(21.5, 1000, 1));
        CHECK(broker->raw_payloads_on("devices/d1/readings")[0].find(R"(,"up":)") !=
              std::string::npos);
    }
    CHECK(client.connected());
    CHECK(client.publish("temperature", 22.0, "C", 1001.0) == publish_result::queued);
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 2; }));
    CHECK(client.buffered() == 2);
    CHECK_FALSE(client.flush(0ms));
    broker->deliver("devices/d1/ack", R"({"boot":1,"seq":2})");
    CHECK(client.flush(5s));
    CHECK(client.buffered() == 0);
    client.stop();
    const auto c = client.counters();
    CHECK(c.published == 2);
    CHECK(c.sent == 2);
    CHECK(c.acked == 2);
    CHECK(c.resent == 0);
    std::lock_guard lock(broker->mutex);
    CHECK(broker->payloads_on("devices/d1/status") ==
          std::vector<std::string>{"online", "offline"});
    CHECK(broker->published.back().retain);
    CHECK(broker->disconnects == 1);
}

TEST_CASE("device_client: re-sends what is unacknowledged after a reconnect") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    device_client client(settings_in(dir), std::make_unique<fake_transport>(broker));
    for (int i = 0; i < 3; ++i) {
        REQUIRE(client.publish("temperature", 20.0 + i, "C", 1000.0 + i) == publish_result::queued);
    }
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 3; }));

    broker->deliver("devices/d1/ack", R"({"boot":2,"seq":3})");  // another boot: ignored
    broker->deliver("devices/d1/ack", R"({"boot":1,"seq":1})");
    REQUIRE(broker->wait([&] { return client.buffered() == 2; }));
    CHECK(client.counters().ignored_acks == 1);

    broker->drop();
    REQUIRE(broker->wait([&] { return broker->connects == 2; }));
    CHECK_FALSE(client.connected());
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 5; }));
    {
        std::lock_guard lock(broker->mutex);
        const auto readings = broker->payloads_on("devices/d1/readings");
        CHECK(readings[3] == reading_json(21.0, 1001, 2));
        CHECK(readings[4] == reading_json(22.0, 1002, 3));
    }
    const auto c = client.counters();
    CHECK(c.resent == 2);
    CHECK(c.reconnects == 1);
    client.stop();
}

TEST_CASE("device_client: an alert goes out first and calls back on the publishing thread") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    device_client client(settings_in(dir), std::make_unique<fake_transport>(broker));
    std::vector<fogbridge::alert_event> seen;
    client.add_alert_rule(
        fogbridge::alert_rule{"temperature", fogbridge::alert_direction::above, 30.0, 1.0},
        [&seen](const fogbridge::alert_event& a) { seen.push_back(a); });
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    broker->accept();
    REQUIRE(broker->wait([&] { return client.connected(); }));
    CHECK(client.publish("temperature", 31.25, "C", 1000.0) == publish_result::queued);
    REQUIRE(seen.size() == 1);  // called before publish() returned
    CHECK(seen[0].value == 31.25);
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 1; }));
    {
        std::lock_guard lock(broker->mutex);
        CHECK(
            broker->payloads_on("devices/d1/alerts") ==
            std::vector<std::string>{
                R"({"sensor":"temperature","value":31.25,"threshold":30,"rule":"above","ts":1000,"boot":1})"});
        const auto alert_at =
            std::find_if(broker->published.begin(), broker->published.end(),
                         [](const mqtt_message& m) { return m.topic == "devices/d1/alerts"; });
        CHECK(alert_at->qos == 1);
        CHECK(alert_at + 1 < broker->published.end());
        CHECK((alert_at + 1)->topic == "devices/d1/readings");
    }
    CHECK(client.publish("temperature", 32.0, "C", 1001.0) == publish_result::queued);
    CHECK(seen.size() == 1);  // not re-armed yet
    CHECK(client.counters().alerts == 1);
    CHECK(client.publish_health(R"({"uptime":5})"));
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/health").size() == 1; }));
    client.stop();
    CHECK_FALSE(client.publish_health(R"({"uptime":6})"));
}

TEST_CASE("device_client: publish never waits for a broker; a full buffer is counted") {
    temp_dir dir;
    auto broker = std::make_shared<fake_broker>();
    auto s = settings_in(dir);
    s.buffer_capacity = 2;
    device_client client(s, std::make_unique<fake_transport>(broker));
    client.start();  // the fake never accepts
    CHECK(client.publish("temperature", 1.0, "C", 1.0) == publish_result::queued);
    CHECK(client.publish("temperature", 2.0, "C", 2.0) == publish_result::queued);
    CHECK(client.publish("temperature", 3.0, "C", 3.0) == publish_result::buffer_full);
    CHECK(client.publish("temperature", 4.0) == publish_result::buffer_full);
    CHECK(client.publish("bad/name", 4.0) == publish_result::invalid);
    const auto c = client.counters();
    CHECK(c.published == 2);
    CHECK(c.buffer_full == 2);
    CHECK(c.invalid == 1);
    CHECK_FALSE(client.flush(1ms));
    client.stop();
}

TEST_CASE("device_client: bad settings fail at start-up with one line, before the boot file") {
    temp_dir dir;
    auto make = [](device_settings s) {
        device_client c(std::move(s),
                        std::make_unique<fake_transport>(std::make_shared<fake_broker>()));
    };
    auto s = settings_in(dir);
    s.device_id = "a/b";
    CHECK_THROWS_WITH_AS(make(s), doctest::Contains("device id 'a/b'"), std::runtime_error);
    s = settings_in(dir);
    s.tls.ca_file = (dir.path / "missing-ca.pem").string();
    CHECK_THROWS_WITH_AS(make(s), doctest::Contains("is not readable"), std::runtime_error);
    s = settings_in(dir);
    s.tls.cert_file = "device.pem";
    CHECK_THROWS_AS(make(s), std::runtime_error);
    s = settings_in(dir);
    s.port = 0;
    CHECK_THROWS_AS(make(s), std::runtime_error);
    CHECK_FALSE(fs::exists(dir.path / "boot"));
}

TEST_CASE("device_client: a file buffer delivers the last boot's readings after a restart") {
    temp_dir dir;
    auto s = settings_in(dir);
    s.make_buffer = [&dir](std::size_t capacity) {
        fogbridge::file_buffer_settings f;
        f.path = dir.path / "d1.buf";
        f.capacity = capacity;
        f.fsync_interval = 10ms;
        return std::make_unique<fogbridge::file_buffer>(f);
    };
    std::vector<std::string> lines;
    {
        device_client first(s, std::make_unique<fake_transport>(std::make_shared<fake_broker>()));
        CHECK(first.boot() == 1);
        for (int i = 0; i < 3; ++i) {
            REQUIRE(first.publish("temperature", 20.0 + i, "C", 1000.0 + i) ==
                    publish_result::queued);
        }
        first.start();  // never connects: the gateway is away
        first.stop();
    }
    s.log = [&lines](std::string_view line) { lines.emplace_back(line); };
    auto broker = std::make_shared<fake_broker>();
    device_client client(s, std::make_unique<fake_transport>(broker));
    CHECK(client.boot() == 2);
    CHECK(client.counters().recovered == 3);
    CHECK(client.buffered() == 3);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines[0] ==
          "3 unacknowledged readings of earlier boots in the buffer (boot 1 seq 1..3); they go "
          "out first");
    REQUIRE(client.publish("temperature", 30.0, "C", 2000.0) == publish_result::queued);
    client.start();
    REQUIRE(broker->wait([&] { return broker->connects == 1; }));
    broker->accept();
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 3; }));
    {
        std::lock_guard lock(broker->mutex);
        CHECK(broker->payloads_on("devices/d1/readings")[0] == reading_json(20.0, 1000, 1));
    }
    broker->deliver("devices/d1/ack", R"({"boot":1,"seq":3})");
    REQUIRE(broker->wait([&] { return broker->payloads_on("devices/d1/readings").size() == 4; }));
    {
        std::lock_guard lock(broker->mutex);
        CHECK(broker->payloads_on("devices/d1/readings")[3] ==
              R"({"sensor":"temperature","value":30,"unit":"C","ts":2000,"boot":2,"seq":1})");
    }
    broker->deliver("devices/d1/ack", R"({"boot":2,"seq":1})");
    CHECK(client.flush(5s));
    client.stop();
    const auto c = client.counters();
    CHECK(c.acked == 4);
    CHECK(c.published == 1);
}

TEST_CASE("device_client: a buffer that already holds this boot's readings is a start-up error") {
    temp_dir dir;
    auto s = settings_in(dir);
    s.make_buffer = [](std::size_t capacity) {
        auto b = std::make_unique<fogbridge::memory_buffer>(capacity);
        b->push({1, 1, "t", 1.0, "", 1.0});
        return b;
    };
    CHECK_THROWS_WITH_AS(
        device_client(s, std::make_unique<fake_transport>(std::make_shared<fake_broker>())),
        doctest::Contains("already holds readings of boot 1"), std::runtime_error);
}
