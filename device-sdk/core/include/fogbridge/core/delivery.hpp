// Board side of the delivery contract, Sans-I/O: stamps (boot, seq), keeps readings in a bounded
// ring until the gateway acknowledges them, and decides which to (re)send; no heap, not
// thread-safe. Time is an argument.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fogbridge/core/json.hpp"

namespace fogbridge::core {

struct sensor_info {
    const char* name;  // 1-64 of [A-Za-z0-9_.-]
    const char* unit;  // "" for none
};

// One buffered reading (40 bytes on a 32-bit board).
struct reading {
    std::uint64_t seq = 0;
    double value = 0.0;
    std::int64_t ts_ms = 0;   // wall time, 0 when the board does not know it
    std::uint64_t up_ms = 0;  // since the board booted
    std::uint8_t sensor = 0;
};

struct delivery_settings {
    // Readings sent but not acknowledged before sending pauses.
    std::uint32_t max_in_flight = 64;
    // Without ack progress for this long, send again from the first unacknowledged reading.
    std::uint32_t resend_timeout_ms = 10000;
    // Readings in one message (a JSON array when more than one) ...
    std::uint16_t max_readings_per_message = 8;
    // ... stopping short of this many bytes of payload.
    std::uint16_t max_message_bytes = 1024;
};

enum class accept_result : std::uint8_t { queued, buffer_full, invalid };
enum class ack_result : std::uint8_t { progress, duplicate, other_boot, out_of_range };

struct delivery_counters {
    std::uint32_t published = 0;    // readings accepted
    std::uint32_t acked = 0;        // readings acknowledged by the gateway
    std::uint32_t buffer_full = 0;  // refused: buffer full
    std::uint32_t invalid = 0;      // refused: not finite, unknown sensor
    std::uint32_t sent = 0;         // handed to MQTT the first time
    std::uint32_t resent = 0;       // handed to MQTT again
    std::uint32_t ignored_acks = 0;
};

// {"sensor":"t","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":42,"up":12.345}
void encode_reading(json_out& out, const reading& r, const sensor_info& sensor, std::uint64_t boot);

class delivery final {
  public:
    // `slots` is the ring's storage (capacity readings); `sensors` lives as long as this.
    delivery(const delivery_settings& settings, std::uint64_t boot, reading* slots,
             std::size_t capacity, const sensor_info* sensors, std::size_t sensor_count);

    // Validates, assigns the next seq and buffers; a seq is used only by an accepted reading.
    accept_result accept(std::uint8_t sensor, double value, std::int64_t ts_ms,
                         std::uint64_t up_ms);

    // After every (re)connect everything unacknowledged goes again, in seq order.
    void on_connected(std::uint64_t now_ms);
    void on_disconnected() { connected_ = false; }
    ack_result on_ack(std::uint64_t boot, std::uint64_t seq, std::uint64_t now_ms);

    // The next readings payload into out (up to the settings' limits), or false when there is
    // nothing to send now; first/last name the seqs it carries.
    bool next_message(std::uint64_t now_ms, json_out& out, std::uint64_t& first,
                      std::uint64_t& last);

    // When next_message should be asked again even if nothing happens (resend timeout); 0: none.
    std::uint64_t next_deadline_ms() const;

    std::uint64_t boot() const { return boot_; }
    std::uint64_t last_seq() const { return next_seq_ - 1; }
    std::uint64_t acked_seq() const { return acked_; }
    std::size_t buffered() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    std::uint64_t in_flight() const { return send_next_ - 1 - acked_; }
    const delivery_counters& counters() const { return counters_; }
    const sensor_info* sensors() const { return sensors_; }
    std::size_t sensor_count() const { return sensor_count_; }

  private:
    const reading& at(std::uint64_t seq) const;

    delivery_settings settings_;
    std::uint64_t boot_;
    reading* slots_;
    std::size_t capacity_;
    const sensor_info* sensors_;
    std::size_t sensor_count_;
    std::size_t head_ = 0;  // slot of seq acked_ + 1
    std::size_t size_ = 0;
    std::uint64_t next_seq_ = 1;
    std::uint64_t acked_ = 0;
    std::uint64_t send_next_ = 1;
    std::uint64_t max_sent_ = 0;
    std::uint64_t progress_at_ = 0;
    bool connected_ = false;
    delivery_counters counters_;
};

}  // namespace fogbridge::core
