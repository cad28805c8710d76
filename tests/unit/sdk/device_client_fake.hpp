// A scripted fake MQTT transport and broker for device_client's tests; the broker's state is
// guarded by its mutex, shared by the client's thread and the test's.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "fogbridge/device_client.hpp"
#include "temp_dir.hpp"

namespace device_client_fake {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fogbridge::device_client;
using fogbridge::device_settings;
using fogbridge::mqtt_connect_options;
using fogbridge::mqtt_message;
using fogbridge::mqtt_transport_events;
using fogbridge::publish_result;

using fogbridge::test::temp_dir;

// What the fake broker saw, and what the test scripts for it; shared with the transport.
struct fake_broker {
    std::mutex mutex;
    std::condition_variable changed;
    int connects = 0;
    int disconnects = 0;
    std::optional<mqtt_connect_options> options;
    std::vector<mqtt_message> published;
    std::vector<std::string> subscribed;
    bool alive = false;
    bool woken = false;
    int next_id = 1;
    std::deque<std::function<void(mqtt_transport_events&)>> inbox;

    void push(std::function<void(mqtt_transport_events&)> event) {
        std::lock_guard lock(mutex);
        inbox.push_back(std::move(event));
        changed.notify_all();
    }
    void accept() {
        push([](mqtt_transport_events& e) { e.on_connect(true, ""); });
    }
    void deliver(std::string topic, std::string payload) {
        push([topic, payload](mqtt_transport_events& e) {
            e.on_message({.topic = topic, .payload = payload});
        });
    }
    void drop() {
        std::lock_guard lock(mutex);
        alive = false;
        changed.notify_all();
    }
    // Re-checks `done` after every change; gives up after 5 s.
    bool wait(const std::function<bool()>& done) {
        std::unique_lock lock(mutex);
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (!done()) {
            if (changed.wait_until(lock, until) == std::cv_status::timeout) {
                return done();
            }
        }
        return true;
    }
    // Readings without their "up" (seconds since boot, which a test cannot know in advance).
    std::vector<std::string> payloads_on(const std::string& topic) {
        static const std::regex up(R"(,"up":[0-9.eE+-]+)");
        std::vector<std::string> out;
        for (const auto& m : published) {
            if (m.topic == topic) {
                out.push_back(std::regex_replace(m.payload, up, ""));
            }
        }
        return out;
    }
    std::vector<std::string> raw_payloads_on(const std::string& topic) {
        std::vector<std::string> out;
        for (const auto& m : published) {
            if (m.topic == topic) {
                out.push_back(m.payload);
            }
        }
        return out;
    }
};

class fake_transport final : public fogbridge::mqtt_transport {
  public:
    explicit fake_transport(std::shared_ptr<fake_broker> broker) : b_(std::move(broker)) {}

    void set_events(mqtt_transport_events* events) override { events_ = events; }

    std::string connect(const mqtt_connect_options& options) override {
        std::lock_guard lock(b_->mutex);
        ++b_->connects;
        b_->options = options;
        b_->alive = true;
        b_->inbox.clear();
        b_->changed.notify_all();
        return {};
    }

    bool run_once(std::chrono::milliseconds max_wait) override {
        std::deque<std::function<void(mqtt_transport_events&)>> events;
        {
            std::unique_lock lock(b_->mutex);
            b_->changed.wait_for(lock, max_wait,
                                 [this] { return !b_->inbox.empty() || b_->woken || !b_->alive; });
            b_->woken = false;
            if (!b_->alive) {
                return false;
            }
            events.swap(b_->inbox);
        }
        for (auto& e : events) {
            e(*events_);
        }
        std::lock_guard lock(b_->mutex);
        b_->changed.notify_all();  // lets the test re-check the client's state
        return b_->alive;
    }

    std::optional<int> publish(const mqtt_message& m) override {
        std::lock_guard lock(b_->mutex);
        b_->published.push_back(m);
        const int id = b_->next_id++;
        if (m.qos > 0) {
            b_->inbox.push_back([id](mqtt_transport_events& e) { e.on_published(id); });
        }
        b_->changed.notify_all();
        return id;
    }

    bool subscribe(const std::string& topic, int /*qos*/) override {
        std::lock_guard lock(b_->mutex);
        b_->subscribed.push_back(topic);
        return true;
    }

    void disconnect() override {
        std::lock_guard lock(b_->mutex);
        ++b_->disconnects;
        b_->alive = false;
        b_->changed.notify_all();
    }

    void wake() override {
        std::lock_guard lock(b_->mutex);
        b_->woken = true;
        b_->changed.notify_all();
    }

  private:
    std::shared_ptr<fake_broker> b_;
    mqtt_transport_events* events_ = nullptr;
};

inline device_settings settings_in(const temp_dir& dir) {
    device_settings s;
    s.device_id = "d1";
    s.boot_file = (dir.path / "boot").string();
    s.reconnect = fogbridge::backoff_settings{1ms, 2ms, 2.0};
    s.health_interval = 0ms;  // the health tests turn it on
    return s;
}

inline std::string reading_json(double value, double ts, std::uint64_t seq) {
    std::string v = std::to_string(value);
    v.erase(v.find_last_not_of('0') + 1);
    if (v.back() == '.') {
        v.pop_back();
    }
    return R"({"sensor":"temperature","value":)" + v + R"(,"unit":"C","ts":)" +
           std::to_string(static_cast<long long>(ts)) + R"(,"boot":1,"seq":)" +
           std::to_string(seq) + "}";
}

}  // namespace device_client_fake
