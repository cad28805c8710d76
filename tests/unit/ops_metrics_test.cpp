#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "ops/certificate.hpp"
#include "ops/metrics.hpp"
#include "ops/ops_figures.hpp"

using fogbridge::metrics_figures;

namespace {

metrics_figures small_figures() {
    metrics_figures f;
    f.version = "1.2.3";
    f.gateway_id = "gw-01";
    f.start_time = 1700000000.5;
    f.readings_received = 10;
    f.readings_stored = 6;
    f.readings_filtered = 3;
    f.readings_duplicate = 1;
    f.readings_sent = 4;
    f.rejects = {{"bad_json", 2}, {"device_mismatch", 1}};
    f.filter_decisions = {{"temp \"x\"\\", {{"dropped", 3}, {"kept_first", 1}}}};
    f.batches_sent = 2;
    f.replay_batches_sent = 1;
    f.batches_acked = 1;
    f.uplink_bytes = 1234;
    f.uplink_connects = 1;
    f.uplink_connected = true;
    f.uplink_state_since = 1700000100.25;
    f.uplink_in_flight = 1;
    f.puback_latency = {1, 0.25, 0.25, 0.25, 0.25};
    f.queue_readings = 2;
    f.queue_bytes = 200;
    f.queue_leased_batches = 1;
    f.queue_replay_readings = 5;
    f.queue_oldest_age_seconds = 1.5;
    f.process_cpu_seconds = 3.25;
    f.process_resident_memory_bytes = 1048576;
    f.certificate_not_after = {{"cloud", 2111071505}};
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
# HELP fogbridge_readings_sent_total Readings acknowledged by the cloud broker.
# TYPE fogbridge_readings_sent_total counter
fogbridge_readings_sent_total 4
# HELP fogbridge_rejects_total Rejected device inputs by reason.
# TYPE fogbridge_rejects_total counter
fogbridge_rejects_total{reason="bad_json"} 2
fogbridge_rejects_total{reason="device_mismatch"} 1
# HELP fogbridge_drops_total Stored readings dropped before delivery, by reason.
# TYPE fogbridge_drops_total counter
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
# HELP fogbridge_queue_bytes Estimated JSON bytes of the pending readings.
# TYPE fogbridge_queue_bytes gauge
fogbridge_queue_bytes 200
# HELP fogbridge_queue_leased_batches Batches leased and not yet acknowledged.
# TYPE fogbridge_queue_leased_batches gauge
fogbridge_queue_leased_batches 1
# HELP fogbridge_queue_replay_readings Readings of the backlog left by an outage, drained beside live data.
# TYPE fogbridge_queue_replay_readings gauge
fogbridge_queue_replay_readings 5
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
    metrics_figures f;
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

    metrics_figures m;
    add_ops_metrics(m, f);
    CHECK(m.process_cpu_seconds == 2.5);
    CHECK(m.process_resident_memory_bytes == 4096U);
    CHECK(m.host_memory_total_bytes == 8192U);
    CHECK(m.disk_free_bytes == 1000U);
    CHECK(m.disk_total_bytes == 4000U);
    CHECK(m.puback_latency == f.puback);
    CHECK(m.queue_drain_seconds == 30.0);
    CHECK(m.certificate_not_after == f.certificate_not_after);
    CHECK_FALSE(filter_ratio(0, 0).has_value());
}
