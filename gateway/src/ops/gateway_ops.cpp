#include "ops/gateway_ops.hpp"

#include <chrono>

#include "common/clock.hpp"
#include "common/log.hpp"
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
        if (l.refused) {
            s.local_problem = "local broker: " + l.last_error.text;
        }
    }
    return stalls_.problem(s);
}

gateway_figures gateway_ops::make(const pipeline_snapshot& snap, const uplink_status& ups,
                                  const queue_stats& qs, const ops_figures& ops) const {
    const local_link_status local = local_ != nullptr ? local_->status() : local_link_status{};
    gateway_figures f = make_figures({snap, ups, qs, local, ops}, wall_now());
    f.gateway_id = cfg_.id;
    f.started = started_;
    return f;
}

gateway_figures gateway_ops::sample(const pipeline_snapshot& snap, const uplink_status& ups,
                                    const queue_stats& qs, bool stopping) {
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
    ops_figures o;
    o.process = proc_.sample(mono);
    o.disk = disk_usage(cfg_.store.path);
    received_.add(mono, snap.counters.readings);
    stored_.add(mono, snap.stored);
    sent_.add(mono, ups.readings_acked);
    o.received_per_s = received_.rate();
    o.stored_per_s = stored_.rate();
    o.sent_per_s = sent_.rate();
    o.kept = snap.counters.kept;
    o.filtered = snap.counters.filtered;
    o.puback = puback_.summary();
    o.drain_s = estimate_drain_seconds(qs.held_readings, o.stored_per_s, o.sent_per_s);
    if (auto t = certificate_file_not_after(cfg_.cloud.endpoint.tls.cert_file)) {
        o.certificate_not_after["cloud"] = *t;
    }
    if (auto t = certificate_file_not_after(cfg_.local.tls.cert_file)) {
        o.certificate_not_after["local"] = *t;
    }
    {
        const std::lock_guard lock(mutex_);
        last_ = o;
    }
    gateway_figures f = make(snap, ups, qs, o);
    f.stopping = stopping;
    return f;
}

gateway_figures gateway_ops::figures(const pipeline_snapshot& snap, const uplink_status& ups,
                                     const queue_stats& qs) const {
    ops_figures last;
    {
        const std::lock_guard lock(mutex_);
        last = last_;
    }
    last.puback = puback_.summary();
    return make(snap, ups, qs, last);
}

}  // namespace fogbridge
