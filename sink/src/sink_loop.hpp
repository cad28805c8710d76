// fogbridge-sink's main loop: receive from the broker, write each message in one transaction,
// acknowledge after COMMIT, reconnect both ends with backoff, drain on a stop signal.
// Not thread-safe: runs on the main thread.
#pragma once

#include "sink_config.hpp"
#include "sink_metrics.hpp"

namespace fogbridge::sink {

// Runs until stop_fd becomes readable, then drains. Returns the exit status. Throws
// std::runtime_error for what start-up cannot get past (unusable TLS files, a newer schema).
int run_sink(const config& c, sink_metrics& metrics, int stop_fd);

}  // namespace fogbridge::sink
