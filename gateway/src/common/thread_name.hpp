// Names the calling thread (at most 15 characters), so top -H, perf and /proc/<pid>/task/*/comm
// tell the gateway's threads apart.
#pragma once

#include <pthread.h>

namespace fogbridge {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace fogbridge
