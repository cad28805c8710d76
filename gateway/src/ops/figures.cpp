#include "ops/figures.hpp"

#include <algorithm>

#include "common/version.hpp"

namespace fogbridge {
namespace {

reading_figures readings_of(const pipeline_snapshot& p) {
    const auto& c = p.counters;
    reading_figures r;
    r.messages = c.messages;
    r.received = c.readings;
    r.stored = p.stored;
    r.kept = c.kept;
    r.filtered = c.filtered;
    r.duplicates = c.duplicates + p.store_duplicates;
    r.out_of_order = c.out_of_order;
    r.alerts = c.alerts;
    r.device_statuses = c.statuses;
    r.device_health = c.health;
    r.rejects_suppressed = c.rejects_suppressed;
    r.alerts_suppressed = c.alerts_suppressed;
    r.health_suppressed = c.health_suppressed;
    r.commits = p.commits;
    r.rejected = c.rejected;
    for (const auto& [rule, f] : p.filter) {
        r.filter_decisions[rule] = {{"kept_first", f.kept_first},
                                    {"kept_change", f.kept_change},
                                    {"kept_heartbeat", f.kept_heartbeat},
                                    {"kept_gap", f.kept_gap},
                                    {"dropped", f.dropped}};
    }
    return r;
}

queue_figures queue_of(const figure_sources& in, double now) {
    const queue_stats& q = in.queue;
    queue_figures f;
    f.held_readings = q.held_readings;
    f.pending_readings = q.pending_readings;
    f.leased_readings = q.leased_readings;
    f.held_bytes = q.held_bytes;
    f.pending_bytes = q.pending_bytes;
    f.leased_batches = q.leased_batches;
    f.backlog_readings = q.backlog_readings;
    if (q.oldest_enqueued) {
        f.oldest_held_age_s = std::max(0.0, now - *q.oldest_enqueued);
    }
    f.gap_records = q.gap_records;
    f.drops = q.drops;
    f.inbound_messages = in.pipeline.queued;
    return f;
}

}  // namespace

std::uint64_t reading_figures::rejected_total() const {
    std::uint64_t total = 0;
    for (const auto& [reason, n] : rejected) {
        total += n;
    }
    return total;
}

gateway_figures make_figures(const figure_sources& in, double now) {
    gateway_figures f;
    f.version = std::string(version());
    f.now = now;
    f.readings = readings_of(in.pipeline);
    f.uplink = in.uplink;
    f.queue = queue_of(in, now);
    f.store = {in.pipeline.store_failing,
               in.pipeline.store_failing_since,
               in.pipeline.store_last_error,
               in.pipeline.commit_failures,
               in.queue.reopens,
               in.queue.uplink_write_failures};
    f.local = in.local;
    f.ops = in.ops;
    return f;
}

}  // namespace fogbridge
