// The gateway's figures at one moment, filled once per health report or /metrics scrape from
// the parts' snapshots; the health payload and the metrics page both render only this. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/status_error.hpp"
#include "ingest/local_link.hpp"
#include "ops/ops_figures.hpp"
#include "pipeline/pipeline.hpp"
#include "store/store.hpp"
#include "uplink/uplink_status.hpp"

namespace fogbridge {

// Counters since the gateway started, of what came in from the devices.
struct reading_figures {
    std::uint64_t messages = 0;    // device messages taken from the local broker
    std::uint64_t received = 0;    // valid readings decoded
    std::uint64_t stored = 0;      // new rows committed to the store
    std::uint64_t kept = 0;        // handed to the store by the filter
    std::uint64_t filtered = 0;    // dropped as not significant
    std::uint64_t duplicates = 0;  // re-sends dropped by (device, boot, seq), pipeline and store
    std::uint64_t out_of_order = 0;
    std::uint64_t alerts = 0;
    std::uint64_t device_statuses = 0;
    std::uint64_t device_health = 0;
    std::uint64_t rejects_suppressed = 0;
    std::uint64_t alerts_suppressed = 0;
    std::uint64_t health_suppressed = 0;
    std::uint64_t commits = 0;
    std::map<std::string, std::uint64_t> rejected;  // by reason
    // rule -> decision (kept_first, kept_change, kept_heartbeat, kept_gap, dropped) -> count
    std::map<std::string, std::map<std::string, std::uint64_t>> filter_decisions;

    std::uint64_t rejected_total() const;
};

// What the store holds now. Held = pending + leased: what store.max_rows and max_bytes limit.
struct queue_figures {
    std::uint64_t held_readings = 0;
    std::uint64_t pending_readings = 0;  // not yet in a batch
    std::uint64_t leased_readings = 0;   // in a batch not yet acknowledged
    std::uint64_t held_bytes = 0;        // estimated JSON bytes
    std::uint64_t pending_bytes = 0;
    std::uint64_t leased_batches = 0;
    std::uint64_t backlog_readings = 0;       // pending, stored before the uplink's connect
    std::optional<double> oldest_held_age_s;  // empty when nothing is held
    std::uint64_t gap_records = 0;            // not yet leased
    drop_counts drops;                        // since the gateway started, by reason
    std::uint64_t inbound_messages = 0;       // waiting between ingest and the pipeline
};

// The store's disk: while it refuses writes, devices are not acknowledged.
struct store_figures {
    std::string failing;  // why commits fail now ("full", "io", "error"); empty: writable
    double failing_since = 0;
    status_error last_error;  // the last commit failure; empty: none since start
    std::uint64_t commit_failures = 0;
    std::uint64_t reopens = 0;
    std::uint64_t uplink_write_failures = 0;

    bool writable() const { return failing.empty(); }
};

struct gateway_figures {
    std::string gateway_id;
    std::string version;
    double now = 0;      // wall time of the snapshot, seconds since the epoch
    double started = 0;  // wall time the gateway started
    bool stopping = false;
    reading_figures readings;
    uplink_status uplink;  // readings_acked: readings in batches the cloud broker acknowledged
    queue_figures queue;
    store_figures store;
    local_link_status local;
    ops_figures ops;
};

// The parts' snapshots that one gateway_figures is made of.
struct figure_sources {
    const pipeline_snapshot& pipeline;
    const uplink_status& uplink;
    const queue_stats& queue;
    const local_link_status& local;
    const ops_figures& ops;
};

gateway_figures make_figures(const figure_sources& in, double now);

}  // namespace fogbridge
