// Decides whether the gateway is stuck, for /healthz: a stage with work in front of it that has
// made no progress for `stuck_after`. A quiet site (nothing queued, nothing in flight) is
// healthy however long it stays quiet. Thread-safe (the main loop and the metrics thread both
// observe).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace fogbridge {

struct stage_sample {
    std::chrono::steady_clock::time_point now;
    // When the ingest thread last went round its loop; the epoch while it has not started.
    std::chrono::steady_clock::time_point ingest_loop;
    std::size_t pipeline_queued = 0;   // messages waiting between ingest and the pipeline
    std::uint64_t pipeline_done = 0;   // grows with each message processed or group committed
    std::size_t uplink_in_flight = 0;  // batches sent and not acknowledged
    std::uint64_t uplink_acked = 0;    // grows with each PUBACK (accepted or refused)
    std::string local_problem;         // the local link's own verdict ("": none)
};

class stall_watch final {
  public:
    // stuck_after zero or less: only local_problem counts.
    explicit stall_watch(std::chrono::steady_clock::duration stuck_after);

    // "" when healthy, else why not (one line; the first reason found).
    std::string problem(const stage_sample& s);

  private:
    // A stage's progress counter and since when it has had work and no progress.
    struct stage {
        bool seen = false;
        std::uint64_t done = 0;
        std::chrono::steady_clock::time_point progress_at;

        // Seconds the stage has had work without progress.
        double stalled(bool busy, std::uint64_t now_done,
                       std::chrono::steady_clock::time_point now);
    };

    std::chrono::steady_clock::duration stuck_after_;
    std::mutex mutex_;
    stage pipeline_;
    stage uplink_;
};

}  // namespace fogbridge
