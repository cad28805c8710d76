// The pure middle of the gateway: turns a group of inbound device messages into what must be
// committed to the store, and what to publish once the commit has succeeded. No I/O, time is an
// argument. Not thread-safe: one pipeline thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/urgent_queue.hpp"
#include "filter/significant_change_filter.hpp"
#include "ingest/local_link.hpp"
#include "pipeline/device_quota.hpp"
#include "pipeline/reject_limiter.hpp"
#include "store/store.hpp"
#include "uplink/topics.hpp"
#include "validate/board_clock.hpp"
#include "validate/decode.hpp"
#include "validate/sequence.hpp"
#include "validate/topic.hpp"

namespace fogbridge {

struct outbound_message {
    std::string topic;                                 // local only
    upstream_stream stream = upstream_stream::alerts;  // upstream only
    std::string payload;
    fogbridge::retain retain = retain::no;
    urgent_kind kind = urgent_kind::report;  // upstream only: alerts go before any health
    std::string source;                      // upstream only: the device it came from
};

struct group_result {
    commit_set commit;                       // one store transaction
    std::vector<outbound_message> local;     // rejects: publish on the local broker
    std::vector<outbound_message> upstream;  // alerts, device health: send to the cloud at once
    // (device, boot, contiguous seq) to acknowledge after the commit
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> acks;
};

struct processor_counters {
    std::uint64_t messages = 0;
    std::uint64_t readings = 0;    // decoded, valid readings
    std::uint64_t duplicates = 0;  // dropped as re-sends by (device, boot, seq)
    std::uint64_t out_of_order =
        0;                       // ahead of the next expected seq: left for the device to re-send
    std::uint64_t kept = 0;      // handed to the store
    std::uint64_t filtered = 0;  // dropped by the significant-change filter
    std::uint64_t alerts = 0;
    std::uint64_t statuses = 0;                     // valid device status messages
    std::uint64_t health = 0;                       // valid device health reports, relayed upstream
    std::map<std::string, std::uint64_t> rejected;  // by reason
    std::uint64_t rejects_suppressed = 0;           // counted, not published (rate limit)
    std::uint64_t alerts_suppressed = 0;            // valid, not sent upstream (rate limit)
    std::uint64_t health_suppressed = 0;            // the same for device health reports
    // Seqs the gateway had acknowledged but its store had lost (a power cut with synchronous =
    // "normal"), given up as a store_lost gap once the device went on past them.
    std::uint64_t lost = 0;
};

class processor final {
  public:
    processor(std::string gateway_id, decode_settings decode, filter_settings filter);

    // Restores dedup marks and filter state from the store (start-up).
    // now: the gateway's wall clock, from which held swinging-door readings count as held.
    void restore(store& s, double now);
    group_result process(std::vector<inbound_message>& group, double now);
    // A quiet series must not keep swinging-door readings held longer than its heartbeat (by
    // the gateway's clock): ends the open segment of each series that has held readings for
    // that long. An empty result when there is nothing to flush.
    group_result flush_idle(double now);
    void reload_filter(filter_settings settings) { filter_.reload(std::move(settings)); }

    const processor_counters& counters() const { return counters_; }
    const significant_change_filter& filter() const { return filter_; }

  private:
    void on_readings(const device_topic& t, const inbound_message& m, double now,
                     group_result& out);
    void on_alert(const device_topic& t, const inbound_message& m, double now, group_result& out);
    void on_status(const device_topic& t, const inbound_message& m, double now, group_result& out);
    void on_health(const device_topic& t, const inbound_message& m, double now, group_result& out);
    // The gateway's own retained ack (devices/<id>/ack), read back at subscribe: what the device
    // was told is stored. Ahead of the store's mark, it is kept as a claim.
    void on_ack(std::string_view device, const inbound_message& m);
    // A reading beyond the next seq, and beyond a claim: the device forgot the seqs up to the
    // claim (they were acknowledged), so they are given up as lost. Whether it did.
    bool give_up_lost(const reading& r, group_result& out);
    // Held readings now kept: committed, and counted as kept instead of filtered.
    void keep_released(std::vector<reading>& released, group_result& out);
    void take_filter_states(group_result& out);
    void reject(const inbound_message& m, std::string_view device, reject_reason reason,
                std::string_view detail, double now, group_result& out);
    // Whether the reading may make new state (series, boot); rejects it otherwise.
    bool within_quota(const reading& r, const inbound_message& m, double now, group_result& out);

    std::string gateway_id_;
    std::string rejects_topic_;
    decode_settings decode_;
    board_clock board_clock_;
    significant_change_filter filter_;
    sequence_tracker sequences_;
    processor_counters counters_;
    std::set<std::pair<std::string, std::uint64_t>> reack_;  // series that sent a duplicate
    std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> ack_claims_;  // -> acked seq
    reject_limiter reject_limiter_;
    reject_limiter alert_limiter_;
    reject_limiter health_limiter_;
    device_quota quota_;
    // Series holding swinging-door readings back -> gateway time minus reading time at the
    // series' last reading, to tell how long its oldest held reading has waited.
    std::map<std::pair<std::string, std::string>, double> holding_;
};

}  // namespace fogbridge
