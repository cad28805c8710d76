#include "ops/gateway_ops.hpp"

#include <chrono>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "ops/certificate.hpp"

namespace fogbridge {
namespace {

// Rates and intervals on the monotonic clock; wall time only against stored timestamps.
double mono_now() { return to_seconds(system_clock().now().mono.time_since_epoch()); }
double wall_now() { return system_clock().now().wall; }

}  // namespace

gateway_ops::gateway_ops(const gateway_config& cfg, double started)
    : cfg_(cfg),
      started_(started),
      proc_(proc_settings{}),
      stalls_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(cfg.stuck_after))) {}

std::string gateway_ops::problem(const pipeline_snapshot& snap, const uplink_status& ups) {
    stage_sample s;
    s.now = system_clock().now().mono;
    s.pipeline_queued = snap.queued;
    s.pipeline_done = snap.counters.messages + snap.commits + snap.commit_failures;
    s.uplink_in_flight = ups.in_flight;
    s.uplink_acked = ups.batches_acked + ups.batches_refused;
    if (local_ != nullptr) {
        const auto l = local_->status();
        s.ingest_loop = l.last_loop;
        if (l.refused) s.local_problem = "local broker: " + l.last_error;
    }
    return stalls_.problem(s);
}

ops_figures gateway_ops::sample(const pipeline_snapshot& snap, const uplink_status& ups,
                                const queue_stats& qs) {
    const double mono = mono_now();
    // Observed on every sample too, so that "no progress since" is measured between samples
    // even when nobody asks /healthz; said in the log when the verdict changes.
    if (auto why = problem(snap, ups); why != last_problem_) {
        if (why.empty()) {
            log::info("healthy again");
        } else {
            log::error("unhealthy: {}", why);
        }
        last_problem_ = std::move(why);
    }
    ops_figures f;
    f.process = proc_.sample(mono);
    f.disk = disk_usage(cfg_.store.path);
    received_.add(mono, snap.counters.readings);
    stored_.add(mono, snap.stored);
    sent_.add(mono, ups.readings_acked);
    f.received_per_s = received_.rate();
    f.stored_per_s = stored_.rate();
    f.sent_per_s = sent_.rate();
    f.kept = snap.counters.kept;
    f.filtered = snap.counters.filtered;
    f.puback = puback_.summary();
    f.drain_s = estimate_drain_seconds(qs.pending_readings + qs.leased_readings, f.stored_per_s,
                                       f.sent_per_s);
    if (auto t = certificate_file_not_after(cfg_.cloud.endpoint.tls.cert_file))
        f.certificate_not_after["cloud"] = *t;
    if (auto t = certificate_file_not_after(cfg_.local.tls.cert_file))
        f.certificate_not_after["local"] = *t;
    const std::lock_guard lock(mutex_);
    last_ = f;
    return f;
}

std::string gateway_ops::metrics(const pipeline_snapshot& snap, const uplink_status& ups,
                                 const queue_stats& qs) const {
    const auto& c = snap.counters;
    metrics_figures m;
    m.version = std::string(version());
    m.gateway_id = cfg_.id;
    m.start_time = started_;
    m.readings_received = c.readings;
    m.readings_stored = snap.stored;
    m.readings_filtered = c.filtered;
    m.readings_duplicate = c.duplicates + snap.store_duplicates;
    m.readings_sent = ups.readings_acked;
    m.rejects = c.rejected;
    m.drops = {{"store_full_bytes", qs.drops.store_full_bytes},
               {"store_full_rows", qs.drops.store_full_rows},
               {"disk_low", qs.drops.disk_low},
               {"ttl", qs.drops.ttl},
               {"store_lost", qs.drops.store_lost}};
    for (const auto& [rule, f] : snap.filter) {
        m.filter_decisions[rule] = {{"kept_first", f.kept_first},
                                    {"kept_change", f.kept_change},
                                    {"kept_heartbeat", f.kept_heartbeat},
                                    {"kept_gap", f.kept_gap},
                                    {"dropped", f.dropped}};
    }
    m.batches_sent = ups.batches_sent;
    m.replay_batches_sent = ups.replay_batches_sent;
    m.batches_acked = ups.batches_acked;
    m.batches_refused = ups.batches_refused;
    m.uplink_bytes = ups.bytes_sent;
    m.uplink_connects = ups.connects;
    m.uplink_store_errors = ups.store_errors;
    m.uplink_connected = ups.state == uplink_state::connected;
    m.uplink_state_since = ups.since;
    m.uplink_in_flight = ups.in_flight;
    m.uplink_oldest_unacked_age_seconds = ups.oldest_unacked_age_s;
    m.queue_readings = qs.pending_readings + qs.leased_readings;
    m.queue_bytes = qs.held_bytes;
    m.queue_leased_batches = qs.leased_batches;
    m.queue_replay_readings = qs.backlog_readings;
    m.store_writable = snap.store_failing.empty();
    m.store_commit_failures = snap.commit_failures;
    m.store_reopens = qs.reopens;
    if (qs.oldest_enqueued)
        m.queue_oldest_age_seconds = std::max(0.0, wall_now() - *qs.oldest_enqueued);
    ops_figures last;
    {
        const std::lock_guard lock(mutex_);
        last = last_;
    }
    last.puback = puback_.summary();
    if (local_ != nullptr) {
        const auto l = local_->status();
        m.local_subscribed = l.subscribed;
        m.local_connects = l.connects;
        m.local_protocol_errors = l.protocol_errors;
        m.local_subscription_refused = l.subscription_refused;
    }
    add_ops_metrics(m, last);
    return render_metrics(m);
}

}  // namespace fogbridge
