// Set-up a gateway thread does for itself: its name (at most 15 characters, so top -H, perf and
// /proc/<pid>/task/*/comm tell the threads apart) and, for throughput threads, batch scheduling.
#pragma once

#include <pthread.h>
#include <sched.h>

namespace fogbridge {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

// SCHED_BATCH: the thread does not preempt others when it wakes. The ingest thread and the
// broker keep each other going (messages, PUBACKs, more messages); a commit thread waking from
// fsync and taking the core of either stalls both. Batch threads have queues in front of them and
// lose nothing by waiting for the next tick. Needs no privilege; a refusal changes nothing.
inline void run_as_batch_work() {
    sched_param p{};
    p.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
}

}  // namespace fogbridge
