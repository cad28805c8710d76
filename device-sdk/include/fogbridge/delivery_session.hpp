// Sans-I/O core of the device SDK: assigns seqs, keeps readings until acknowledged and decides
// what to hand to MQTT when. Time is an argument; not thread-safe (device_client locks it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fogbridge/alerts.hpp"
#include "fogbridge/buffer.hpp"
#include "fogbridge/protocol.hpp"

namespace fogbridge {

struct delivery_settings {
    std::string device_id;
    // Readings sent but not acknowledged beyond the last ack before sending pauses.
    std::size_t max_in_flight = 1000;
    // Without ack progress for this long, send again from the first unacknowledged reading.
    std::chrono::milliseconds resend_timeout{10000};
    // Up to this many readings go into one message (a JSON array when more than one).
    std::size_t max_readings_per_message = 1;
    // Alerts waiting for a connection; more are dropped and counted.
    std::size_t max_pending_alerts = 100;
};

enum class publish_result { queued, buffer_full, invalid };

std::string_view to_string(publish_result result);

enum class ack_result {
    progress,      // readings were acknowledged
    duplicate,     // nothing new (seq at or below the last ack)
    other_boot,    // for another boot: ignored
    out_of_range,  // a seq this boot never assigned: ignored
    malformed,     // not an ack payload
};

struct outgoing_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
    std::uint64_t first_seq = 0;  // readings carried (0 when not a readings message)
    std::uint64_t last_seq = 0;
};

struct delivery_counters {
    std::uint64_t published = 0;       // readings accepted into the buffer
    std::uint64_t acked = 0;           // readings acknowledged by the gateway
    std::uint64_t buffer_full = 0;     // readings refused because the buffer was full
    std::uint64_t invalid = 0;         // readings refused as invalid
    std::uint64_t sent = 0;            // readings handed to MQTT for the first time
    std::uint64_t resent = 0;          // readings handed to MQTT again
    std::uint64_t alerts = 0;          // alerts queued
    std::uint64_t alerts_dropped = 0;  // alerts dropped: too many waiting for a connection
    std::uint64_t ignored_acks = 0;    // acks for another boot or an unassigned seq
};

class delivery_session final {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    delivery_session(delivery_settings settings, std::uint64_t boot,
                     std::unique_ptr<reading_buffer> buffer);

    // Validates, assigns the next seq and buffers. A seq is used only by an accepted reading,
    // so the seqs of a boot are contiguous.
    publish_result accept(std::string_view sensor, double value, std::string_view unit, double ts);

    // Queues an alert to go out before any reading; false (and counted) when too many wait.
    bool enqueue_alert(const alert_event& alert);
    // Health goes out only while connected (stale health is worthless): false otherwise.
    bool enqueue_health(std::string payload);

    // After every (re)connect everything unacknowledged is sent again, in seq order.
    void on_connected(time_point now);
    void on_disconnected();
    ack_result on_ack(std::uint64_t boot, std::uint64_t seq, time_point now);
    ack_result on_ack_payload(std::string_view payload, time_point now);

    // What to hand to MQTT now, at most `max_messages` messages: alerts and health first, then
    // readings while the in-flight window allows. Nothing while disconnected.
    std::vector<outgoing_message> take_sendable(time_point now, std::size_t max_messages);

    // When take_sendable should be called again even if nothing else happens (resend timeout).
    std::optional<time_point> next_deadline() const;

    std::uint64_t boot() const { return boot_; }
    std::uint64_t last_seq() const { return next_seq_ - 1; }
    std::uint64_t acked_seq() const { return acked_; }
    std::size_t buffered() const { return buffer_->size(); }
    std::size_t in_flight() const { return static_cast<std::size_t>(send_next_ - 1 - acked_); }
    bool connected() const { return connected_; }
    const delivery_counters& counters() const { return counters_; }
    const device_topics& topics() const { return topics_; }

  private:
    void check_resend(time_point now);
    outgoing_message next_readings_message(time_point now);

    delivery_settings settings_;
    device_topics topics_;
    std::uint64_t boot_;
    std::unique_ptr<reading_buffer> buffer_;
    std::uint64_t next_seq_ = 1;   // seq of the next accepted reading
    std::uint64_t acked_ = 0;      // highest acknowledged seq
    std::uint64_t send_next_ = 1;  // seq of the next reading to hand to MQTT
    std::uint64_t max_sent_ = 0;   // highest seq ever handed to MQTT
    bool connected_ = false;
    time_point progress_at_{};  // last ack progress, or when sending started from idle
    std::deque<outgoing_message> urgent_;
    std::size_t pending_alerts_ = 0;
    delivery_counters counters_;
    std::vector<buffered_reading> scratch_;
};

}  // namespace fogbridge
