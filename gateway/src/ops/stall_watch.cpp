#include "ops/stall_watch.hpp"

#include <fmt/format.h>

namespace fogbridge {

using std::chrono::duration;
using std::chrono::steady_clock;

stall_watch::stall_watch(steady_clock::duration stuck_after) : stuck_after_(stuck_after) {}

// Progress is a change of the counter, or no work at all: time without work never counts.
double stall_watch::stage::stalled(bool busy, std::uint64_t now_done,
                                   steady_clock::time_point now) {
    if (!seen || !busy || now_done != done) progress_at = now;
    seen = true;
    done = now_done;
    return duration<double>(now - progress_at).count();
}

std::string stall_watch::problem(const stage_sample& s) {
    const std::lock_guard lock(mutex_);
    const double limit = duration<double>(stuck_after_).count();
    const double pipe = pipeline_.stalled(s.pipeline_queued > 0, s.pipeline_done, s.now);
    const double up = uplink_.stalled(s.uplink_in_flight > 0, s.uplink_acked, s.now);
    if (!s.local_problem.empty()) return s.local_problem;
    if (limit <= 0) return "";
    if (s.ingest_loop != steady_clock::time_point{}) {
        const double idle = duration<double>(s.now - s.ingest_loop).count();
        if (idle > limit) {
            return fmt::format("ingest stuck: its thread has not gone round its loop for {:.0f} s",
                               idle);
        }
    }
    if (pipe > limit) {
        return fmt::format("pipeline stuck: {} message(s) waiting and none processed for {:.0f} s",
                           s.pipeline_queued, pipe);
    }
    if (up > limit) {
        return fmt::format("uplink stuck: {} batch(es) unacknowledged and no PUBACK for {:.0f} s",
                           s.uplink_in_flight, up);
    }
    return "";
}

}  // namespace fogbridge
