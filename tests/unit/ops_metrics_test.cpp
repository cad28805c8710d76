#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>

#include "health/health.hpp"
#include "ops/certificate.hpp"
#include "ops/metrics.hpp"
#include "ops/ops_figures.hpp"

using fogbridge::gateway_figures;

namespace {

gateway_figures small_figures() {
    gateway_figures f;
    f.version = "1.2.3";
    f.gateway_id = "gw-01";
    f.started = 1700000000.5;
    f.readings.received = 10;
    f.readings.stored = 6;
    f.readings.filtered = 3;
    f.readings.duplicates = 1;
    f.uplink.readings_acked = 4;
    f.readings.rejected = {{"bad_json", 2}, {"device_mismatch", 1}};
    f.readings.filter_decisions = {{"temp \"x\"\\", {{"dropped", 3}, {"kept_first", 1}}}};
    f.queue.drops.ttl = 7;
    f.uplink.batches_sent = 2;
    f.uplink.replay_batches_sent = 1;
    f.uplink.batches_acked = 1;
    f.uplink.bytes_sent = 1234;
    f.uplink.connects = 1;
    f.uplink.state = fogbridge::uplink_state::connected;
    f.uplink.since = 1700000100.25;
    f.uplink.in_flight = 1;
    f.ops.puback = {1, 0.25, 0.25, 0.25, 0.25};
    f.queue.held_readings = 2;
    f.queue.pending_readings = 1;
    f.queue.held_bytes = 200;
    f.queue.pending_bytes = 100;
    f.queue.leased_batches = 1;
    f.queue.backlog_readings = 5;
    f.queue.oldest_held_age_s = 1.5;
    f.ops.process.process_cpu_seconds = 3.25;
    f.ops.process.rss_bytes = 1048576;
    f.ops.certificate_not_after = {{"cloud", 2111071505}};
    return f;
}

constexpr const char* expected_page =
    R"(# HELP fogbridge_build_info Version and identity of this gateway; always 1.
# TYPE fogbridge_build_info gauge
fogbridge_build_info{gateway="gw-01",version="1.2.3"} 1
# HELP fogbridge_start_time_seconds Start time of the gateway process, seconds since the epoch.
# TYPE fogbridge_start_time_seconds gauge
fogbridge_start_time_seconds 1700000000.5
# HELP fogbridge_readings_received_total Valid readings received from devices.
# TYPE fogbridge_readings_received_total counter
fogbridge_readings_received_total 10
# HELP fogbridge_readings_stored_total Readings committed to the store.
# TYPE fogbridge_readings_stored_total counter
fogbridge_readings_stored_total 6
# HELP fogbridge_readings_filtered_total Readings dropped by the significant-change filter.
# TYPE fogbridge_readings_filtered_total counter
fogbridge_readings_filtered_total 3
# HELP fogbridge_readings_duplicate_total Re-sent readings dropped as duplicates by (device, boot, seq).
# TYPE fogbridge_readings_duplicate_total counter
fogbridge_readings_duplicate_total 1
# HELP fogbridge_readings_acked_total Readings in batches the cloud broker acknowledged.
# TYPE fogbridge_readings_acked_total counter
fogbridge_readings_acked_total 4
# HELP fogbridge_readings_sent_total Readings in batches the cloud broker acknowledged (as readings_acked).
# TYPE fogbridge_readings_sent_total counter
fogbridge_readings_sent_total 4
# HELP fogbridge_rejects_total Rejected device inputs by reason.
# TYPE fogbridge_rejects_total counter
fogbridge_rejects_total{reason="bad_json"} 2
fogbridge_rejects_total{reason="device_mismatch"} 1
# HELP fogbridge_drops_total Stored readings dropped before delivery, by reason.
# TYPE fogbridge_drops_total counter
fogbridge_drops_total{reason="store_full_bytes"} 0
fogbridge_drops_total{reason="store_full_rows"} 0
fogbridge_drops_total{reason="disk_low"} 0
fogbridge_drops_total{reason="ttl"} 7
fogbridge_drops_total{reason="store_lost"} 0
# HELP fogbridge_filter_decisions_total Filter decisions by rule and decision.
# TYPE fogbridge_filter_decisions_total counter
fogbridge_filter_decisions_total{rule="temp \"x\"\\",decision="dropped"} 3
fogbridge_filter_decisions_total{rule="temp \"x\"\\",decision="kept_first"} 1
# HELP fogbridge_batches_sent_total Batches published to the cloud broker.
# TYPE fogbridge_batches_sent_total counter
fogbridge_batches_sent_total 2
# HELP fogbridge_replay_batches_sent_total Backlog batches (tagged replay) published to the cloud broker.
# TYPE fogbridge_replay_batches_sent_total counter
fogbridge_replay_batches_sent_total 1
# HELP fogbridge_batches_acked_total Batches acknowledged by the cloud broker.
# TYPE fogbridge_batches_acked_total counter
fogbridge_batches_acked_total 1
# HELP fogbridge_batches_refused_total Batches the cloud broker answered with an error reason code.
# TYPE fogbridge_batches_refused_total counter
fogbridge_batches_refused_total 0
# HELP fogbridge_uplink_bytes_total Batch payload bytes sent to the cloud broker, after compression.
# TYPE fogbridge_uplink_bytes_total counter
fogbridge_uplink_bytes_total 1234
# HELP fogbridge_uplink_connects_total Connections made to the cloud broker.
# TYPE fogbridge_uplink_connects_total counter
fogbridge_uplink_connects_total 1
# HELP fogbridge_uplink_store_errors_total Store calls of the uplink that failed; each ended the cloud session.
# TYPE fogbridge_uplink_store_errors_total counter
fogbridge_uplink_store_errors_total 0
# HELP fogbridge_uplink_connected 1 when connected to the cloud broker, else 0.
# TYPE fogbridge_uplink_connected gauge
fogbridge_uplink_connected 1
# HELP fogbridge_uplink_state_since_seconds When the uplink entered its current state, seconds since the epoch.
# TYPE fogbridge_uplink_state_since_seconds gauge
fogbridge_uplink_state_since_seconds 1700000100.25
# HELP fogbridge_uplink_in_flight_batches Batches sent and not yet acknowledged.
# TYPE fogbridge_uplink_in_flight_batches gauge
fogbridge_uplink_in_flight_batches 1
# HELP fogbridge_local_subscribed 1 when connected to the local broker with every subscription granted, else 0.
# TYPE fogbridge_local_subscribed gauge
fogbridge_local_subscribed 0
# HELP fogbridge_local_connects_total Connections accepted by the local broker.
# TYPE fogbridge_local_connects_total counter
fogbridge_local_connects_total 0
# HELP fogbridge_local_protocol_errors_total Local broker connections ended by a packet MQTT forbids.
# TYPE fogbridge_local_protocol_errors_total counter
fogbridge_local_protocol_errors_total 0
# HELP fogbridge_local_subscription_refused_total Local broker connections ended because a subscription was refused or granted at QoS 0.
# TYPE fogbridge_local_subscription_refused_total counter
fogbridge_local_subscription_refused_total 0
# HELP fogbridge_puback_latency_seconds Time from publishing a batch to its PUBACK.
# TYPE fogbridge_puback_latency_seconds summary
fogbridge_puback_latency_seconds{quantile="0.5"} 0.25
fogbridge_puback_latency_seconds{quantile="0.99"} 0.25
fogbridge_puback_latency_seconds_sum 0.25
fogbridge_puback_latency_seconds_count 1
# HELP fogbridge_puback_latency_max_seconds Longest PUBACK latency among the recent batches the quantiles cover.
# TYPE fogbridge_puback_latency_max_seconds gauge
fogbridge_puback_latency_max_seconds 0.25
# HELP fogbridge_queue_readings Readings held in the store, pending or in a batch.
# TYPE fogbridge_queue_readings gauge
fogbridge_queue_readings 2
# HELP fogbridge_queue_pending_readings Readings held in the store, not yet in a batch.
# TYPE fogbridge_queue_pending_readings gauge
fogbridge_queue_pending_readings 1
# HELP fogbridge_queue_bytes Estimated JSON bytes of the readings held in the store (as queue_held_bytes).
# TYPE fogbridge_queue_bytes gauge
fogbridge_queue_bytes 200
# HELP fogbridge_queue_held_bytes Estimated JSON bytes of the readings held in the store, pending or in a batch.
# TYPE fogbridge_queue_held_bytes gauge
fogbridge_queue_held_bytes 200
# HELP fogbridge_queue_pending_bytes Estimated JSON bytes of the readings held in the store, not yet in a batch.
# TYPE fogbridge_queue_pending_bytes gauge
fogbridge_queue_pending_bytes 100
# HELP fogbridge_queue_leased_batches Batches leased and not yet acknowledged.
# TYPE fogbridge_queue_leased_batches gauge
fogbridge_queue_leased_batches 1
# HELP fogbridge_queue_replay_readings Readings of the backlog left by an outage, drained beside live data.
# TYPE fogbridge_queue_replay_readings gauge
fogbridge_queue_replay_readings 5
# HELP fogbridge_queue_gap_records Gap records not yet sent.
# TYPE fogbridge_queue_gap_records gauge
fogbridge_queue_gap_records 0
# HELP fogbridge_queue_oldest_age_seconds Age of the oldest reading held in the store.
# TYPE fogbridge_queue_oldest_age_seconds gauge
fogbridge_queue_oldest_age_seconds 1.5
# HELP fogbridge_process_cpu_seconds_total User and system CPU time of the gateway process.
# TYPE fogbridge_process_cpu_seconds_total counter
fogbridge_process_cpu_seconds_total 3.25
# HELP fogbridge_process_resident_memory_bytes Resident memory of the gateway process.
# TYPE fogbridge_process_resident_memory_bytes gauge
fogbridge_process_resident_memory_bytes 1048576
# HELP fogbridge_store_writable 1 while the store takes writes; 0 while commits fail and devices wait for acks.
# TYPE fogbridge_store_writable gauge
fogbridge_store_writable 1
# HELP fogbridge_store_commit_failures_total Store transactions that failed (full disk, I/O error), each retried.
# TYPE fogbridge_store_commit_failures_total counter
fogbridge_store_commit_failures_total 0
# HELP fogbridge_store_reopens_total Times the store's file was reopened after an I/O error.
# TYPE fogbridge_store_reopens_total counter
fogbridge_store_reopens_total 0
# HELP fogbridge_certificate_expiry_timestamp_seconds Expiry (notAfter) of the client certificate of each link.
# TYPE fogbridge_certificate_expiry_timestamp_seconds gauge
fogbridge_certificate_expiry_timestamp_seconds{link="cloud"} 2111071505
)";

// A self-signed certificate made for this test; notAfter is 2036-11-23T16:45:05Z.
constexpr const char* test_certificate = R"(-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUD47KhkulY6qugs43XNR4lq2TyxcwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZm9nYnJpZGdlLXRlc3QwHhcNMjYxMTI2MTY0NTA1WhcNMzYx
MTIzMTY0NTA1WjAZMRcwFQYDVQQDDA5mb2dicmlkZ2UtdGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC9jpDgPt+ezlKIdvnznFZf4TWoNYDONKPa4YBZVpMNV
udD+XYc9OqztT1dAGJKgoZkuJ0lEdeXNOc2ooLoNIhujUzBRMB0GA1UdDgQWBBRU
ywirmvgaPDABBKHWNogQ3eULxDAfBgNVHSMEGDAWgBRUywirmvgaPDABBKHWNogQ
3eULxDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCg75wgJ7DJ
xw9cKwKM4hh0ck63Xy3p8HhUrucKQBW9EwIgFV3NvvzuUE2SBs0oT4Gdz6ljJ5Hg
X1dX+FUV8kQFtho=
-----END CERTIFICATE-----
)";

}  // namespace

TEST_CASE("render_metrics: exact page for a small set of figures") {
    CHECK(fogbridge::render_metrics(small_figures()) == std::string(expected_page));
}

TEST_CASE("render_metrics: unknown figures and empty latency windows leave samples out") {
    gateway_figures f;
    const auto page = fogbridge::render_metrics(f);
    CHECK(page.find("fogbridge_queue_oldest_age_seconds") == std::string::npos);
    CHECK(page.find("fogbridge_process_cpu_seconds_total") == std::string::npos);
    CHECK(page.find("fogbridge_certificate_expiry_timestamp_seconds") == std::string::npos);
    CHECK(page.find("quantile=") == std::string::npos);
    CHECK(page.find("fogbridge_puback_latency_max_seconds") == std::string::npos);
    CHECK(page.find("fogbridge_puback_latency_seconds_count 0\n") != std::string::npos);
    CHECK(page.find("fogbridge_uplink_connected 0\n") != std::string::npos);
    CHECK(page.find("fogbridge_build_info{gateway=\"\",version=\"\"} 1\n") != std::string::npos);
}

TEST_CASE("text format escaping and values") {
    using namespace fogbridge;
    CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
    CHECK(escape_help("a\\b\"c\nd") == "a\\\\b\"c\\nd");
    CHECK(format_sample_value(0.1) == "0.1");
    CHECK(format_sample_value(3.0) == "3");
    CHECK(format_sample_value(1e21) == "1e+21");
    CHECK(format_sample_value(INFINITY) == "+Inf");
    CHECK(format_sample_value(-INFINITY) == "-Inf");
    CHECK(format_sample_value(std::nan("")) == "NaN");
}

TEST_CASE("certificate expiry from PEM") {
    using namespace fogbridge;
    CHECK(certificate_not_after(test_certificate) == 2111071505.0);
    CHECK_FALSE(certificate_not_after("not a certificate").has_value());
    CHECK_FALSE(certificate_not_after("").has_value());
    CHECK_FALSE(certificate_file_not_after("/nonexistent/fogbridge.crt").has_value());
    CHECK(days_until(2111071505.0, 2111071505.0 - 1.5 * 86400) == 1.5);
    CHECK(days_until(100.0, 100.0 + 86400) == -1.0);
}

TEST_CASE("ops figures in the health payload and on the metrics page") {
    using namespace fogbridge;
    ops_figures f;
    f.process.process_cpu_seconds = 2.5;
    f.process.process_cpu_percent = 12.5;
    f.process.rss_bytes = 4096;
    f.process.mem_total_bytes = 8192;
    f.disk = disk_space{1000, 4000};
    f.received_per_s = 20.0;
    f.sent_per_s = 5.0;
    f.kept = 1;
    f.filtered = 3;
    f.puback = {2, 0.75, 0.25, 0.5, 0.5};
    f.drain_s = 30.0;
    f.certificate_not_after = {{"cloud", 1000.0 + 86400 * 2}};

    nlohmann::json payload = {{"uplink", {{"state", "connected"}}}, {"queue", {{"readings", 3}}}};
    add_ops_health(payload, f, 1000.0);
    const auto expected = nlohmann::json::parse(R"({
        "uplink": {"state": "connected", "puback_p50_s": 0.25, "puback_p99_s": 0.5,
                   "puback_max_s": 0.5},
        "queue": {"readings": 3, "drain_eta_s": 30.0},
        "process": {"cpu_s": 2.5, "cpu_pct": 12.5, "rss_bytes": 4096, "peak_rss_bytes": null},
        "host": {"cpu_pct": null, "mem_total_bytes": 8192, "mem_available_bytes": null},
        "disk": {"free_bytes": 1000, "total_bytes": 4000},
        "rates": {"received_per_s": 20.0, "stored_per_s": null, "sent_per_s": 5.0,
                  "filter_ratio": 0.75},
        "certificates": {"cloud": {"not_after": 173800.0, "expiry_days": 2.0}}
    })");
    CHECK(payload == expected);

    CHECK_FALSE(filter_ratio(0, 0).has_value());
}

namespace {

// name{labels} -> value of every sample on a page.
std::map<std::string, double> samples_of(const std::string& page) {
    std::map<std::string, double> out;
    std::istringstream lines(page);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

// Every figure a different value, so that a renderer reading the wrong one is caught.
gateway_figures distinct_figures() {
    using namespace fogbridge;
    gateway_figures f;
    f.gateway_id = "gw-01";
    f.now = 1700000100;
    f.started = 1700000000;
    f.readings = {.messages = 101,
                  .received = 102,
                  .stored = 103,
                  .kept = 104,
                  .filtered = 105,
                  .duplicates = 106,
                  .out_of_order = 107,
                  .alerts = 108,
                  .device_statuses = 109,
                  .device_health = 110,
                  .rejects_suppressed = 111,
                  .alerts_suppressed = 112,
                  .health_suppressed = 113,
                  .commits = 114,
                  .rejected = {{"bad_json", 115}, {"too_large", 116}},
                  .filter_decisions = {{"temp",
                                        {{"kept_first", 117},
                                         {"kept_change", 118},
                                         {"kept_heartbeat", 119},
                                         {"kept_gap", 120},
                                         {"dropped", 121}}}}};
    f.uplink.state = uplink_state::connected;
    f.uplink.since = 1700000050;
    f.uplink.connects = 201;
    f.uplink.batches_sent = 202;
    f.uplink.replay_batches_sent = 203;
    f.uplink.batches_acked = 204;
    f.uplink.batches_refused = 205;
    f.uplink.readings_acked = 206;
    f.uplink.bytes_sent = 207;
    f.uplink.store_errors = 208;
    f.uplink.in_flight = 209;
    f.uplink.oldest_unacked_age_s = 2.5;
    f.queue = {.held_readings = 301,
               .pending_readings = 302,
               .leased_readings = 303,
               .held_bytes = 304,
               .pending_bytes = 305,
               .leased_batches = 306,
               .backlog_readings = 307,
               .oldest_held_age_s = 30.5,
               .gap_records = 308,
               .drops = {309, 310, 311, 312, 313},
               .inbound_messages = 314};
    f.store = {.failing = "",
               .failing_since = 0,
               .last_error = {},
               .commit_failures = 401,
               .reopens = 402,
               .uplink_write_failures = 403};
    f.local.subscribed = true;
    f.local.connects = 501;
    f.local.protocol_errors = 502;
    f.local.subscription_refused = 503;
    f.ops.process.rss_bytes = 601;
    f.ops.process.peak_rss_bytes = 602;
    f.ops.process.mem_total_bytes = 603;
    f.ops.process.mem_available_bytes = 604;
    f.ops.process.process_cpu_seconds = 6.5;
    f.ops.disk = disk_space{605, 606};
    f.ops.puback = {3, 0.75, 0.25, 0.5, 0.625};
    f.ops.drain_s = 60.5;
    return f;
}

}  // namespace

TEST_CASE("the health payload and the metrics page give the same figures the same values") {
    const auto f = distinct_figures();
    const auto health = nlohmann::json::parse(fogbridge::health_payload(f));
    const auto page = samples_of(fogbridge::render_metrics(f));
    const std::pair<const char*, const char*> same[] = {
        {"/counters/received", "fogbridge_readings_received_total"},
        {"/counters/stored", "fogbridge_readings_stored_total"},
        {"/counters/filtered", "fogbridge_readings_filtered_total"},
        {"/counters/duplicates", "fogbridge_readings_duplicate_total"},
        {"/counters/readings_acked", "fogbridge_readings_acked_total"},
        {"/counters/readings_sent", "fogbridge_readings_sent_total"},
        {"/counters/rejected/bad_json", "fogbridge_rejects_total{reason=\"bad_json\"}"},
        {"/counters/rejected/too_large", "fogbridge_rejects_total{reason=\"too_large\"}"},
        {"/counters/batches_sent", "fogbridge_batches_sent_total"},
        {"/counters/replay_batches_sent", "fogbridge_replay_batches_sent_total"},
        {"/counters/batches_acked", "fogbridge_batches_acked_total"},
        {"/counters/batches_refused", "fogbridge_batches_refused_total"},
        {"/counters/bytes_up", "fogbridge_uplink_bytes_total"},
        {"/counters/commit_failures", "fogbridge_store_commit_failures_total"},
        {"/filter/temp/kept_first",
         "fogbridge_filter_decisions_total{rule=\"temp\",decision=\"kept_first\"}"},
        {"/filter/temp/dropped",
         "fogbridge_filter_decisions_total{rule=\"temp\",decision=\"dropped\"}"},
        {"/uplink/connects", "fogbridge_uplink_connects_total"},
        {"/uplink/since", "fogbridge_uplink_state_since_seconds"},
        {"/uplink/in_flight", "fogbridge_uplink_in_flight_batches"},
        {"/uplink/oldest_unacked_age_s", "fogbridge_uplink_oldest_unacked_age_seconds"},
        {"/uplink/store_errors", "fogbridge_uplink_store_errors_total"},
        {"/uplink/puback_p50_s", "fogbridge_puback_latency_seconds{quantile=\"0.5\"}"},
        {"/uplink/puback_p99_s", "fogbridge_puback_latency_seconds{quantile=\"0.99\"}"},
        {"/uplink/puback_max_s", "fogbridge_puback_latency_max_seconds"},
        {"/queue/readings", "fogbridge_queue_readings"},
        {"/queue/pending_readings", "fogbridge_queue_pending_readings"},
        {"/queue/bytes", "fogbridge_queue_bytes"},
        {"/queue/held_bytes", "fogbridge_queue_held_bytes"},
        {"/queue/pending_bytes", "fogbridge_queue_pending_bytes"},
        {"/queue/leased_batches", "fogbridge_queue_leased_batches"},
        {"/queue/replay_readings", "fogbridge_queue_replay_readings"},
        {"/queue/gap_records", "fogbridge_queue_gap_records"},
        {"/queue/oldest_age_s", "fogbridge_queue_oldest_age_seconds"},
        {"/queue/drain_eta_s", "fogbridge_queue_drain_estimate_seconds"},
        {"/queue/drops/store_full_bytes", "fogbridge_drops_total{reason=\"store_full_bytes\"}"},
        {"/queue/drops/store_full_rows", "fogbridge_drops_total{reason=\"store_full_rows\"}"},
        {"/queue/drops/disk_low", "fogbridge_drops_total{reason=\"disk_low\"}"},
        {"/queue/drops/ttl", "fogbridge_drops_total{reason=\"ttl\"}"},
        {"/queue/drops/store_lost", "fogbridge_drops_total{reason=\"store_lost\"}"},
        {"/store/reopens", "fogbridge_store_reopens_total"},
        {"/local/connects", "fogbridge_local_connects_total"},
        {"/local/protocol_errors", "fogbridge_local_protocol_errors_total"},
        {"/local/subscription_refused", "fogbridge_local_subscription_refused_total"},
        {"/process/cpu_s", "fogbridge_process_cpu_seconds_total"},
        {"/process/rss_bytes", "fogbridge_process_resident_memory_bytes"},
        {"/process/peak_rss_bytes", "fogbridge_process_resident_memory_max_bytes"},
        {"/host/mem_total_bytes", "fogbridge_host_memory_total_bytes"},
        {"/host/mem_available_bytes", "fogbridge_host_memory_available_bytes"},
        {"/disk/free_bytes", "fogbridge_disk_free_bytes"},
        {"/disk/total_bytes", "fogbridge_disk_total_bytes"},
    };
    for (const auto& [pointer, metric] : same) {
        CAPTURE(pointer);
        const auto& value = health.at(nlohmann::json::json_pointer(pointer));
        REQUIRE(page.count(metric) == 1);
        CHECK(value.get<double>() == page.at(metric));
    }
    // The flags, as 0/1 on the page.
    CHECK(health["store"]["writable"] == true);
    CHECK(page.at("fogbridge_store_writable") == 1);
    CHECK(health["local"]["subscribed"] == true);
    CHECK(page.at("fogbridge_local_subscribed") == 1);
    CHECK(health["uplink"]["state"] == "connected");
    CHECK(page.at("fogbridge_uplink_connected") == 1);
    CHECK(health["status"] == "ok");
    // Held and pending are different figures, each under its own name.
    CHECK(health["queue"]["held_bytes"] == 304);
    CHECK(health["queue"]["pending_bytes"] == 305);
}
