// The portable device core: a board's link to the local broker over one byte stream (MQTT 3.1.1
// client, acknowledged delivery of readings, local alerts, health, reconnects with backoff). No
// heap, exceptions, threads or OS calls; everything goes through `platform`. Not thread-safe:
// call publish() and poll() from one thread (or the main loop).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "fogbridge/core/alerts.hpp"
#include "fogbridge/core/backoff.hpp"
#include "fogbridge/core/delivery.hpp"
#include "fogbridge/core/mqtt.hpp"
#include "fogbridge/core/platform.hpp"

namespace fogbridge::core {

struct device_config {
    const char* device_id = "";      // topics devices/<id>/...; also the MQTT client id
    const char* username = nullptr;  // broker credentials; nullptr: none (e.g. TLS identity)
    const char* password = nullptr;
    std::uint16_t keepalive_s = 30;
    std::uint32_t connect_timeout_ms = 10000;  // for CONNACK and SUBACK
    std::uint32_t health_interval_ms = 60000;  // health report while connected; 0: none
    std::uint16_t max_unacked_publishes = 8;   // QoS 1 PUBLISH packets waiting for PUBACK
    delivery_settings delivery;
    backoff_settings backoff;
};

// Caller-owned storage, fixed at start. tx holds one packet: max_message_bytes + 96 is enough
// for device ids up to 64 characters; rx holds one incoming packet (acks are ~40 bytes).
struct device_memory {
    reading* readings = nullptr;
    std::size_t reading_capacity = 0;
    std::uint8_t* tx = nullptr;
    std::size_t tx_size = 0;
    std::uint8_t* rx = nullptr;
    std::size_t rx_size = 0;
    // Persistent storage for unacknowledged readings (flash pages, a file); nullptr: the RAM ring
    // in `readings`, lost at a reset. It goes out first; give load_boot/save_boot with it.
    reading_store* store = nullptr;
};

enum class link_state : std::uint8_t { waiting, connecting, subscribing, ready };

struct link_counters {
    std::uint32_t connects = 0;    // CONNACKs accepted
    std::uint32_t reconnects = 0;  // connects after the first
    std::uint32_t lost = 0;        // connections closed on an error or timeout
    std::uint32_t alerts = 0;      // alerts fired
    std::uint32_t alerts_dropped = 0;
    std::uint32_t skipped_packets = 0;  // incoming packets larger than rx
};

constexpr std::size_t max_alert_rules = 4;
constexpr std::size_t max_pending_alerts = 4;

class device final {
  public:
    // Picks the boot id: the stored counter + 1 (saved back) when the platform has storage,
    // otherwise 53 random bits.
    device(platform& p, const device_config& config, const device_memory& memory,
           const sensor_info* sensors, std::size_t sensor_count);

    // False when the config or memory cannot work (bad names, buffers too small).
    bool valid() const { return valid_; }

    // Stamps (boot, seq, ts, up), buffers, and checks the alert rules; an alert goes out first
    // at the next poll().
    accept_result publish(std::uint8_t sensor, double value);
    bool add_alert_rule(const alert_rule& rule) { return rules_.add(rule); }

    // Does all I/O: connects, reads, handles acks, sends what is due. Call it often (every few
    // milliseconds while data flows); it never blocks unless the platform's stream does.
    void poll();

    std::uint64_t boot() const { return delivery_.boot(); }
    link_state state() const { return state_; }
    bool connected() const { return state_ == link_state::ready; }
    const delivery& readings() const { return delivery_; }
    const link_counters& counters() const { return counters_; }

  private:
    bool flush();
    bool receive(std::uint64_t now);
    bool handle(const mqtt::packet& packet, std::uint64_t now);
    void compose(std::uint64_t now);
    void lost(const char* why, std::uint64_t now);
    void schedule_retry(std::uint64_t now);
    void start_connect(std::uint64_t now);
    // Payload bytes start at tx + payload_offset(); returns where the header must go.
    std::size_t payload_offset(const char* suffix) const;
    void finish_publish(const char* suffix, std::size_t payload_size, std::uint8_t qos,
                        bool retain);
    void publish_alert(const alert_event& a);
    void publish_health(std::uint64_t now);
    std::uint16_t next_packet_id();
    std::int64_t wall_now();

    platform& p_;
    device_config c_;
    device_memory m_;
    bool valid_ = false;
    delivery delivery_;
    alert_rules<max_alert_rules> rules_;
    std::array<alert_event, max_pending_alerts> alerts_{};
    std::size_t alert_head_ = 0;
    std::size_t alert_count_ = 0;
    backoff backoff_;
    mqtt::reader reader_;
    mqtt::keepalive keepalive_;
    link_state state_ = link_state::waiting;
    std::uint64_t retry_at_ = 0;
    std::uint64_t deadline_ = 0;  // CONNACK / SUBACK
    std::uint64_t health_at_ = 0;
    std::size_t tx_start_ = 0;
    std::size_t tx_end_ = 0;
    std::uint16_t packet_id_ = 0;
    std::uint16_t unacked_ = 0;
    std::uint16_t puback_due_ = 0;  // an incoming QoS 1 PUBLISH to acknowledge
    bool subscribe_due_ = false;
    bool online_due_ = false;
    link_counters counters_;
};

}  // namespace fogbridge::core
