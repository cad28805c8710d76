// Gathers the gateway's figures (ops/figures.hpp) for the health payload and the /metrics page.
// sample() is for the main loop; the rest is thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "common/latency_recorder.hpp"
#include "config/config.hpp"
#include "ingest/local_link.hpp"
#include "ops/figures.hpp"
#include "ops/ops_figures.hpp"
#include "ops/proc_stats.hpp"
#include "ops/rates.hpp"
#include "ops/stall_watch.hpp"
#include "pipeline/pipeline.hpp"
#include "store/store.hpp"
#include "uplink/uplink.hpp"

namespace fogbridge {

class gateway_ops final {
  public:
    gateway_ops(const gateway_config& cfg, double started);

    latency_recorder& puback_latency() { return puback_; }
    // The local link whose figures the metrics page shows; set before the server starts.
    void watch_local(const local_link* link) { local_ = link; }
    // /healthz: "" or why the gateway is unhealthy (see stall_watch).
    std::string problem(const pipeline_snapshot& snap, const uplink_status& ups);
    // The figures of a health report: samples /proc, rates and certificates, and keeps them
    // for figures().
    gateway_figures sample(const pipeline_snapshot& snap, const uplink_status& ups,
                           const queue_stats& qs, bool stopping = false);
    // The figures of a /metrics scrape: fresh snapshots with the last sample's resources.
    gateway_figures figures(const pipeline_snapshot& snap, const uplink_status& ups,
                            const queue_stats& qs) const;

  private:
    const gateway_config& cfg_;
    double started_;
    proc_sampler proc_;
    rate_meter received_;
    rate_meter stored_;
    rate_meter sent_;
    latency_recorder puback_;
    mutable std::mutex mutex_;
    ops_figures last_;
    const local_link* local_ = nullptr;
    stall_watch stalls_;
    std::string last_problem_;  // sample() only

    gateway_figures make(const pipeline_snapshot& snap, const uplink_status& ups,
                         const queue_stats& qs, const ops_figures& ops) const;
};

}  // namespace fogbridge
