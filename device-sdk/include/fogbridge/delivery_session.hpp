// Sans-I/O core of the device SDK: assigns seqs, keeps readings until acknowledged and decides
// what to hand to MQTT when. Time is an argument; not thread-safe (device_client locks it).
// The delivery rules themselves (stamping, the encoding, the window, resends, acks, the order of
// boots) are the portable core's (core/delivery.hpp), over the reading_buffer given here, so the
// Linux SDK and the boards cannot drift; this class adds names, alerts and health around it.
//
// A file buffer can hold readings of earlier boots. They keep their (boot, seq) and go out
// first, one boot at a time: the next boot's readings are sent only once every reading of the
// previous one is acknowledged. The gateway acks per (device, boot) on one retained topic that
// keeps only the latest ack, so this order makes the latest ack always name the boot being
// sent, and an ack for a later boot also acknowledges every earlier boot still buffered.
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
#include "fogbridge/core/delivery.hpp"
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
    // A message of several readings stops short of this size: the gateway refuses larger
    // payloads (validate.max_payload_bytes) and the broker drops the connection of a client
    // that sends more than its max_packet_size.
    std::size_t max_message_bytes = 65536;
};

enum class publish_result { queued, buffer_full, invalid };

std::string_view to_string(publish_result result);

enum class ack_result {
    progress,      // readings were acknowledged
    duplicate,     // nothing new (seq at or below the last ack)
    other_boot,    // for a boot not buffered (and not the current one): ignored
    out_of_range,  // a seq of the current boot that was never sent: ignored
    malformed,     // not an ack payload
};

struct outgoing_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
    std::uint64_t first_seq = 0;  // readings carried (0 when not a readings message)
    std::uint64_t last_seq = 0;
    std::uint64_t boot = 0;  // their boot
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
    std::uint64_t recovered = 0;       // readings of earlier boots found in the buffer
};

class delivery_session final {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    // `buffer` may hold readings of earlier boots, not of `boot` (std::invalid_argument).
    delivery_session(delivery_settings settings, std::uint64_t boot,
                     std::unique_ptr<reading_buffer> buffer);

    // Validates, assigns the next seq and buffers. A seq is used only by an accepted reading,
    // so the seqs of a boot are contiguous.
    // `up`: seconds since the board booted, sent with the reading (see buffered_reading::up).
    publish_result accept(std::string_view sensor, double value, std::string_view unit, double ts,
                          std::optional<double> up = std::nullopt);

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

    // The buffer's durability work (a delayed fsync): when sync_storage should run.
    std::optional<time_point> storage_deadline() const { return buffer_->sync_deadline(); }
    void sync_storage(time_point now) { buffer_->sync_due(now); }

    std::uint64_t boot() const { return core_.boot(); }
    std::uint64_t last_seq() const { return core_.last_seq(); }  // of the current boot
    // The current boot's highest acknowledged seq.
    std::uint64_t acked_seq() const { return core_.acked_seq(); }
    // The boot whose readings are being sent: an earlier one until its readings are all acked.
    std::uint64_t sending_boot() const { return core_.sending_boot(); }
    std::size_t buffered() const { return buffer_->size(); }
    std::vector<buffered_run> buffer_runs() const { return buffer_->runs(); }
    std::size_t in_flight() const { return static_cast<std::size_t>(core_.in_flight()); }
    bool connected() const { return core_.connected(); }
    delivery_counters counters() const;
    const device_topics& topics() const { return topics_; }

  private:
    // The core's reading_store over a reading_buffer (memory or file).
    class buffer_store final : public core::reading_store {
      public:
        explicit buffer_store(reading_buffer& buffer) : buffer_(buffer) {}
        std::size_t capacity() const override { return buffer_.capacity(); }
        std::size_t size() const override { return buffer_.size(); }
        bool push(std::uint64_t boot, const core::reading& r,
                  const core::sensor_info& sensor) override;
        std::size_t drop_through(const core::reading_id& through) override;
        bool get(std::uint64_t boot, std::uint64_t seq, core::reading_view& out) override;
        bool front_run(core::run& out) const override;
        bool holds(std::uint64_t boot) const override;

      private:
        reading_buffer& buffer_;
        std::vector<buffered_reading> cache_;  // consecutive readings of one boot, read ahead
    };

    delivery_settings settings_;
    device_topics topics_;
    std::unique_ptr<reading_buffer> buffer_;
    buffer_store store_;
    core::delivery core_;
    std::string payload_;  // the core writes each readings message here
    std::deque<outgoing_message> urgent_;
    std::size_t pending_alerts_ = 0;
    std::uint64_t invalid_ = 0;  // refused here: bad sensor name or unit, ts not finite
    std::uint64_t alerts_ = 0;
    std::uint64_t alerts_dropped_ = 0;
};

}  // namespace fogbridge
