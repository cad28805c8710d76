// The sink's counters and the Prometheus text of GET /metrics. Thread-safe: the main loop
// counts, the metrics server's thread renders.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace fogbridge::sink {

// One batch written to the database.
struct batch_written {
    std::uint64_t rows = 0;        // readings inserted
    std::uint64_t duplicates = 0;  // readings the database already had
    double lag_seconds = 0;        // from the batch's creation at the gateway to now
};

class sink_metrics final {
  public:
    using clock = std::chrono::steady_clock;

    void message(const std::string& kind);
    void batch(const batch_written& b);
    void rejected(const std::string& reason, std::uint64_t n);
    void database_error();
    void state(bool database_up, bool broker_connected, std::size_t pending);
    std::string render(clock::time_point now);

  private:
    double rate(clock::time_point now);

    std::mutex mutex_;
    std::map<std::string, std::uint64_t> messages_;
    std::map<std::string, std::uint64_t> rejected_;
    std::uint64_t batches_ = 0;
    std::uint64_t rows_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t database_errors_ = 0;
    double lag_ = 0;
    bool database_up_ = false;
    bool broker_connected_ = false;
    std::size_t pending_ = 0;
    std::deque<std::pair<clock::time_point, std::uint64_t>> samples_;  // (when, rows) per batch
};

}  // namespace fogbridge::sink
