// Renders the gateway's figures as a Prometheus text exposition page (format 0.0.4). Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/latency_recorder.hpp"
#include "ops/rates.hpp"

namespace fogbridge {

// A plain copy of the figures, filled from the same snapshot as the health payload. Counters
// count since the gateway started. An empty optional leaves its metric off the page.
struct metrics_figures {
    std::string version;
    std::string gateway_id;
    double start_time = 0;  // seconds since the epoch

    std::uint64_t readings_received = 0;           // valid readings decoded from devices
    std::uint64_t readings_stored = 0;             // new rows committed to the store
    std::uint64_t readings_filtered = 0;           // dropped as not significant
    std::uint64_t readings_duplicate = 0;          // re-sends dropped by (device, boot, seq)
    std::uint64_t readings_sent = 0;               // acknowledged by the cloud broker
    std::map<std::string, std::uint64_t> rejects;  // by reason
    std::map<std::string, std::uint64_t> drops;    // by reason (store full, TTL, ...)
    // rule -> decision (kept_first, kept_change, kept_heartbeat, kept_gap, dropped) -> count
    std::map<std::string, std::map<std::string, std::uint64_t>> filter_decisions;

    std::uint64_t batches_sent = 0;
    std::uint64_t replay_batches_sent = 0;  // of them, backlog batches tagged "replay"
    std::uint64_t batches_acked = 0;
    std::uint64_t batches_refused = 0;
    std::uint64_t uplink_bytes = 0;  // batch payload bytes sent, after compression
    std::uint64_t uplink_connects = 0;
    std::uint64_t uplink_store_errors = 0;  // store calls of the uplink that ended a session
    bool uplink_connected = false;
    double uplink_state_since = 0;  // seconds since the epoch
    std::uint64_t uplink_in_flight = 0;
    std::optional<double> uplink_oldest_unacked_age_seconds;  // empty when nothing is in flight
    latency_summary puback_latency;

    bool local_subscribed = false;  // connected to the local broker with every subscription
    std::uint64_t local_connects = 0;
    std::uint64_t local_protocol_errors = 0;       // connections ended by a malformed packet
    std::uint64_t local_subscription_refused = 0;  // connections whose SUBACK refused

    std::uint64_t queue_readings = 0;
    std::uint64_t queue_bytes = 0;
    std::uint64_t queue_leased_batches = 0;
    std::uint64_t queue_replay_readings = 0;         // backlog from before the last outage ended
    std::optional<double> queue_oldest_age_seconds;  // empty when the queue is empty
    std::optional<double> queue_drain_seconds;       // empty when not draining

    std::optional<double> process_cpu_seconds;
    std::optional<std::uint64_t> process_resident_memory_bytes;
    std::optional<std::uint64_t> process_peak_resident_memory_bytes;
    std::optional<std::uint64_t> host_memory_total_bytes;
    std::optional<std::uint64_t> host_memory_available_bytes;
    std::optional<std::uint64_t> disk_free_bytes;
    bool store_writable = true;  // false while commits fail (full disk, I/O error)
    std::uint64_t store_commit_failures = 0;
    std::uint64_t store_reopens = 0;  // connections reopened after an I/O error
    std::optional<std::uint64_t> disk_total_bytes;
    // Expiry (notAfter, seconds since the epoch) of each client certificate, by link
    // ("local", "cloud"); see ops/certificate.hpp.
    std::map<std::string, double> certificate_not_after;
};

std::string render_metrics(const metrics_figures& f);

// Text format escaping: a label value escapes \ " and newline; HELP text escapes \ and newline.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as the text format spells it: shortest round-trip decimal, +Inf, -Inf, NaN.
std::string format_sample_value(double v);

}  // namespace fogbridge
