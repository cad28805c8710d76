// A sensor board's link to the local broker: buffered, acknowledged delivery of readings, local
// alerts and reconnects. Thread-safe: publish(), add_alert_rule(), publish_health(), buffered(),
// counters(), connected(), flush() and stop() may be called from any thread (e.g. the board
// program's) while the SDK's own network thread runs; none of them waits on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fogbridge/alerts.hpp"
#include "fogbridge/backoff.hpp"
#include "fogbridge/buffer.hpp"
#include "fogbridge/core/backoff.hpp"
#include "fogbridge/delivery_session.hpp"
#include "fogbridge/mqtt_transport.hpp"
#include "fogbridge/protocol.hpp"

namespace fogbridge {

struct device_settings {
    std::string device_id;  // names the topics devices/<id>/...; also the MQTT client id
    std::string host = "127.0.0.1";
    int port = 1883;
    device_tls_settings tls;  // mutual TLS when tls.ca_file is set
    std::chrono::seconds keepalive{30};
    std::string boot_file;                // persisted boot counter; empty: a random boot id
    std::size_t buffer_capacity = 10000;  // unacknowledged readings kept
    std::size_t max_in_flight = 1000;     // sent but unacknowledged readings before pausing
    std::chrono::milliseconds resend_timeout{10000};
    std::size_t max_readings_per_message = 1;
    std::size_t max_message_bytes = 65536;  // several readings in one message stop short of it
    std::chrono::milliseconds connect_timeout{10000};
    // Reconnect delays, run by the core's backoff (the multiplier rounded to a whole number).
    backoff_settings reconnect{};
    std::size_t max_pending_alerts = 100;
    // Makes the store of unacknowledged readings; empty: memory_buffer(buffer_capacity). A
    // file_buffer survives a board reboot: the readings of earlier boots it reloads go out
    // first, with their own boot and seq (use a boot_file with it).
    std::function<std::unique_ptr<reading_buffer>(std::size_t capacity)> make_buffer;
    // One line per event (connected, lost, retrying...); empty: silent. Called from the network
    // thread and from publish().
    std::function<void(std::string_view line)> log;
    // The SDK's own health report on devices/<id>/health (uptime, buffer fill, reconnects and
    // what read_board_health returns): every health_interval while connected, the first right
    // after connecting; 0: none (publish_health() still passes documents through).
    std::chrono::milliseconds health_interval{60000};
    // Battery and signal strength, where the board can tell. Called on the SDK's network thread
    // before each report: keep it quick, and do not call into the client from it.
    std::function<board_health()> read_board_health;
};

struct device_counters {
    std::uint64_t published = 0;    // readings accepted into the buffer
    std::uint64_t acked = 0;        // readings acknowledged by the gateway
    std::uint64_t buffer_full = 0;  // readings refused: buffer full
    std::uint64_t invalid = 0;      // readings refused: NaN/inf value or ts, bad sensor or unit
    std::uint64_t sent = 0;         // readings handed to MQTT the first time
    std::uint64_t resent = 0;       // readings handed to MQTT again (reconnect or timeout)
    std::uint64_t reconnects = 0;   // successful connects after the first
    std::uint64_t alerts = 0;       // alerts triggered
    std::uint64_t alerts_dropped = 0;
    std::uint64_t ignored_acks = 0;  // acks for another boot or an unassigned seq
    std::uint64_t recovered = 0;     // readings of earlier boots found in the buffer at start
};

// Runs on the thread that called publish(), outside the SDK's locks (e.g. to light an LED).
using alert_callback = std::function<void(const alert_event&)>;

class device_client final {
  public:
    // Validates the settings and takes the boot id (bumping the boot file). Throws
    // std::runtime_error with one clear line on bad settings. `transport` defaults to the core's
    // MQTT client (make_core_transport).
    explicit device_client(device_settings settings,
                           std::unique_ptr<mqtt_transport> transport = nullptr);
    ~device_client();
    device_client(const device_client&) = delete;
    device_client& operator=(const device_client&) = delete;

    // Starts the network thread, which connects and keeps reconnecting until stop().
    void start();

    // Buffers one reading (ts: seconds since the epoch, UTC; default now) and checks the alert
    // rules. Never waits for the network (a file buffer fsyncing every reading waits for that).
    publish_result publish(std::string_view sensor, double value, std::string_view unit = {},
                           std::optional<double> ts = std::nullopt);

    // Returns the rule's index. The callback runs when the rule fires, after the alert is queued.
    std::size_t add_alert_rule(alert_rule rule, alert_callback callback = {});

    // Passes a health JSON document through to devices/<id>/health (QoS 0); false when not
    // connected.
    bool publish_health(std::string json);

    std::size_t buffered() const;
    device_counters counters() const;
    bool connected() const { return connected_.load(); }
    std::uint64_t boot() const { return boot_; }
    const device_topics& topics() const { return topics_; }

    // Waits until every buffered reading is acknowledged or the timeout expires.
    bool flush(std::chrono::milliseconds timeout);

    // Publishes status offline, disconnects cleanly and joins the network thread. Idempotent.
    // Readings still buffered are not waited for: call flush() first.
    void stop();

  private:
    class events_adapter;
    enum class link_state { idle, connecting, connected };

    void run();
    void start_attempt(std::chrono::steady_clock::time_point now);
    void connection_failed(std::chrono::steady_clock::time_point now, const std::string& why);
    void handle_connect(bool accepted, std::string_view reason);
    void after_connect(std::chrono::steady_clock::time_point now);
    void handle_ack(std::string_view payload);  // a message on the ack topic
    void handle_published(int message_id);
    void pump(std::chrono::steady_clock::time_point now);
    std::chrono::milliseconds wait_budget(std::chrono::steady_clock::time_point now) const;
    void report_health(std::chrono::steady_clock::time_point now);
    void publish_offline_and_disconnect();
    void log(std::string_view line) const;

    device_settings settings_;
    std::uint64_t boot_;
    device_topics topics_;
    mqtt_connect_options connect_options_;
    std::unique_ptr<mqtt_transport> transport_;
    std::unique_ptr<events_adapter> events_;

    // Guarded by mutex_.
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    delivery_session session_;
    alert_tracker alerts_;
    std::vector<alert_callback> callbacks_;
    std::uint64_t reconnects_ = 0;
    bool stop_requested_ = false;
    bool buffer_full_logged_ = false;

    // Network thread only.
    link_state link_ = link_state::idle;
    std::chrono::steady_clock::time_point attempt_started_{};
    std::chrono::steady_clock::time_point next_attempt_{};
    core::backoff backoff_;  // the boards' (core/backoff.hpp)
    std::mt19937_64 rng_;
    std::deque<int> pending_ids_;  // QoS 1 messages the transport still holds
    bool ever_connected_ = false;
    bool just_connected_ = false;
    std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point next_health_{};

    std::atomic<bool> connected_{false};
    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
    std::thread thread_;
};

}  // namespace fogbridge
