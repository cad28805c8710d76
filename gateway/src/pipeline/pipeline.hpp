// Two threads in a row. The pipeline thread takes inbound messages from ingest and runs them
// through the processor in groups; the commit thread stores each group's result in one store
// transaction, then acknowledges devices, publishes rejects and hands alerts to the uplink. So
// group k+1 is decoded while group k waits for its fsync; results are committed strictly in
// order, and results that queue up behind a slow fsync share one transaction.
// push() and snapshot() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/bounded_queue.hpp"
#include "common/status_error.hpp"
#include "ingest/local_link.hpp"
#include "pipeline/pipeline_settings.hpp"
#include "pipeline/processor.hpp"
#include "store/store.hpp"
#include "uplink/uplink.hpp"

namespace fogbridge {

struct pipeline_snapshot {
    processor_counters counters;
    std::uint64_t stored = 0;  // new rows committed
    std::uint64_t store_duplicates = 0;
    std::uint64_t commits = 0;
    std::uint64_t commit_failures = 0;
    std::size_t queued = 0;  // messages waiting between ingest and the pipeline
    // Why commits fail right now ("full", "io", "error"; empty while they succeed): devices are
    // not acknowledged meanwhile. Since: wall time of the first failure of this run.
    std::string store_failing;
    status_error store_last_error;  // the last commit failure (a store_errc); empty: none
    double store_failing_since = 0;
    std::map<std::string, significant_change_filter::rule_counters> filter;
};

class pipeline final {
  public:
    pipeline(pipeline_settings settings, processor& proc, store& queue, local_link& local,
             uplink& up);
    ~pipeline();
    pipeline(const pipeline&) = delete;
    pipeline& operator=(const pipeline&) = delete;

    void start();
    // Stops taking messages, commits and acknowledges what was taken, joins the thread.
    void stop();
    // Blocks while the queue is full (backpressure onto the local broker); false once stopped.
    bool push(std::vector<inbound_message>& messages) { return queue_.push_all(messages); }
    pipeline_snapshot snapshot() const;
    // Rules reload (SIGHUP); applied by the pipeline thread before its next group.
    void reload_filter(filter_settings settings);

  private:
    void run();
    void run_commits();
    void process_group(std::vector<inbound_message>& group);
    void flush_idle();
    void take_counters();
    bool finish(group_result& r);
    void store_housekeeping();
    bool commit_with_retry(const commit_set& c);
    void note_store_failure(const std::exception& e);
    void note_store_ok();

    pipeline_settings settings_;
    processor& proc_;
    store& store_;
    local_link& local_;
    uplink& uplink_;
    bounded_queue<inbound_message> queue_;
    bounded_queue<group_result> processed_;  // between the two threads
    std::thread thread_;
    std::thread commit_thread_;
    // Commit thread only.
    std::chrono::steady_clock::time_point next_expire_{};
    std::chrono::steady_clock::time_point next_prune_ =
        std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::chrono::steady_clock::time_point store_failing_at_{};  // for the "writing again" line

    mutable std::mutex mutex_;
    pipeline_snapshot snapshot_;
    std::optional<filter_settings> pending_rules_;
};

}  // namespace fogbridge
