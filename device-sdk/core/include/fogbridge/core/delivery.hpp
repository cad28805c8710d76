// Board side of the delivery contract, Sans-I/O: stamps (boot, seq), keeps readings in a
// reading_store until the gateway acknowledges them, and decides which to (re)send; no heap, not
// thread-safe. Time is an argument. The Linux SDK's delivery_session runs on this class too.
//
// A persistent store can hold readings of earlier boots. They keep their (boot, seq) and go out
// first, one boot at a time: the next boot's readings are sent only once every reading of the
// previous one is acknowledged. The gateway acks per (device, boot) on one retained topic that
// keeps only the latest ack, so this order makes the latest ack always name the boot being
// sent, and an ack for a later boot also acknowledges every earlier boot still stored.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fogbridge/core/alerts.hpp"
#include "fogbridge/core/json.hpp"
#include "fogbridge/core/store.hpp"

namespace fogbridge::core {

struct delivery_settings {
    // Readings sent but not acknowledged before sending pauses.
    std::uint32_t max_in_flight = 64;
    // Without ack progress for this long, send again from the first unacknowledged reading.
    std::uint32_t resend_timeout_ms = 10000;
    // Readings in one message (a JSON array when more than one) ...
    std::uint32_t max_readings_per_message = 8;
    // ... stopping short of this many bytes of payload (a first reading always goes).
    std::uint32_t max_message_bytes = 1024;
};

enum class accept_result : std::uint8_t { queued, buffer_full, invalid };
enum class ack_result : std::uint8_t { progress, duplicate, other_boot, out_of_range };

struct delivery_counters {
    std::uint64_t published = 0;    // readings accepted
    std::uint64_t acked = 0;        // readings acknowledged by the gateway
    std::uint64_t buffer_full = 0;  // refused: buffer full
    std::uint64_t invalid = 0;      // refused: not finite, unknown sensor
    std::uint64_t sent = 0;         // handed to MQTT the first time
    std::uint64_t resent = 0;       // handed to MQTT again
    std::uint64_t ignored_acks = 0;
    std::uint64_t recovered = 0;  // readings of earlier boots found in the store at start
};

// {"sensor":"t","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":42,"up":12.345}
void encode_reading(json_out& out, const reading_view& v);
void encode_reading(json_out& out, const reading& r, const sensor_info& sensor, std::uint64_t boot);

// {"sensor":"t","value":31.2,"threshold":30,"rule":"above","ts":1732630000.123,"boot":7,"up":12.3}
// (up left out when has_up is false); the Linux SDK's alerts too.
void encode_alert(json_out& out, const char* sensor, const alert_event& a, std::uint64_t boot,
                  bool has_up);

// devices/<id>/health (schemas/device-health.json); the Linux SDK's reports too.
struct health_report {
    std::int64_t ts_ms = 0;  // wall time; 0: unknown, and left out rather than claim 1970
    std::uint64_t boot = 0;
    std::uint64_t uptime_ms = 0;
    std::uint64_t buffered = 0;
    std::uint64_t capacity = 0;
    std::uint64_t reconnects = 0;
    bool has_battery = false;  // battery_pct, 0..100, when the board can tell
    double battery_pct = 0.0;
    bool has_rssi = false;  // rssi_dbm, -200..50
    double rssi_dbm = 0.0;
};

// {"ts":...,"boot":7,"uptime_s":3600.5,"buffer":{"readings":12,"capacity":512},"reconnects":2,
//  "battery_pct":87,"rssi_dbm":-67} (values out of range or not finite are left out)
void encode_health(json_out& out, const health_report& h);

class delivery final {
  public:
    // Readings in a RAM ring: `slots` holds capacity readings; `sensors` lives as long as this.
    delivery(const delivery_settings& settings, std::uint64_t boot, reading* slots,
             std::size_t capacity, const sensor_info* sensors, std::size_t sensor_count);
    // Readings in the platform's store, which may hold earlier boots (sent first). A store that
    // already holds readings of `boot` is refused (store_ok() false): its seqs may be at the
    // gateway already, so new readings would be dropped there as duplicates.
    delivery(const delivery_settings& settings, std::uint64_t boot, reading_store& store,
             const sensor_info* sensors, std::size_t sensor_count);
    // The platform's store when `store` is set, else the RAM ring in slots.
    delivery(const delivery_settings& settings, std::uint64_t boot, reading_store* store,
             reading* slots, std::size_t capacity, const sensor_info* sensors,
             std::size_t sensor_count);
    delivery(const delivery&) = delete;
    delivery& operator=(const delivery&) = delete;

    bool store_ok() const { return store_ok_; }

    // Validates, assigns the next seq and buffers; a seq is used only by an accepted reading.
    accept_result accept(std::uint8_t sensor, double value, std::int64_t ts_ms,
                         std::uint64_t up_ms);
    // The same with the caller's names (checked by the caller) and up only when known.
    accept_result accept(const sensor_info& sensor, double value, std::int64_t ts_ms,
                         std::uint64_t up_ms, bool has_up);

    // After every (re)connect everything unacknowledged goes again, in seq order.
    void on_connected(std::uint64_t now_ms);
    void on_disconnected() { connected_ = false; }
    ack_result on_ack(std::uint64_t boot, std::uint64_t seq, std::uint64_t now_ms);

    // The next readings payload into out (up to the settings' limits), or false when there is
    // nothing to send now; first/last name the seqs it carries, of sending_boot().
    bool next_message(std::uint64_t now_ms, json_out& out, std::uint64_t& first,
                      std::uint64_t& last);

    // When next_message should be asked again even if nothing happens (resend timeout); 0: none.
    std::uint64_t next_deadline_ms() const;

    std::uint64_t boot() const { return boot_; }
    std::uint64_t last_seq() const { return next_seq_ - 1; }  // of the current boot
    // The current boot's highest acknowledged seq.
    std::uint64_t acked_seq() const { return send_boot_ == boot_ ? acked_ : 0; }
    // The boot whose readings are being sent: an earlier one until its readings are all acked.
    std::uint64_t sending_boot() const { return send_boot_; }
    std::size_t buffered() const { return store_->size(); }
    std::size_t capacity() const { return store_->capacity(); }
    std::uint64_t in_flight() const { return send_next_ - 1 - acked_; }
    bool connected() const { return connected_; }
    const delivery_counters& counters() const { return counters_; }
    const sensor_info* sensors() const { return sensors_; }
    std::size_t sensor_count() const { return sensor_count_; }

  private:
    accept_result store(const reading& r, const sensor_info& sensor);
    void start_sending(bool have_run, const run& r, std::uint64_t now_ms);
    void release(const reading_id& through, std::uint64_t now_ms);
    std::uint64_t send_last() const { return send_boot_ == boot_ ? last_seq() : send_run_last_; }

    delivery_settings settings_;
    std::uint64_t boot_;
    ring_store ring_;
    reading_store* store_;
    const sensor_info* sensors_;
    std::size_t sensor_count_;
    bool store_ok_ = true;
    std::uint64_t next_seq_ = 1;
    // The run being sent (send_boot_): an earlier boot's, then the current boot's for good.
    std::uint64_t send_boot_ = 0;
    std::uint64_t send_run_last_ = 0;  // its last seq, while it is an earlier boot's
    std::uint64_t acked_ = 0;          // its highest acknowledged seq
    std::uint64_t send_next_ = 1;      // its next seq to hand to MQTT
    std::uint64_t max_sent_ = 0;       // its highest seq ever handed to MQTT
    std::uint64_t progress_at_ = 0;
    bool connected_ = false;
    delivery_counters counters_;
};

}  // namespace fogbridge::core
