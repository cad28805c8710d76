// The pipeline thread: takes inbound messages from ingest, runs them through the processor in
// groups, commits each group in one store transaction, then acknowledges devices, publishes
// rejects and hands alerts to the uplink. push() and snapshot() are thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "common/bounded_queue.hpp"
#include "config/config.hpp"
#include "ingest/local_link.hpp"
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
    bool push(inbound_message&& m) { return queue_.push(std::move(m)); }
    pipeline_snapshot snapshot() const;
    // Rules reload (SIGHUP); applied by the pipeline thread before its next group.
    void reload_filter(filter_settings settings);

  private:
    void run();
    void handle_group(std::vector<inbound_message>& group);
    bool commit_with_retry(const commit_set& c);

    pipeline_settings settings_;
    processor& proc_;
    store& store_;
    local_link& local_;
    uplink& uplink_;
    bounded_queue<inbound_message> queue_;
    std::thread thread_;

    mutable std::mutex mutex_;
    pipeline_snapshot snapshot_;
    std::optional<filter_settings> pending_rules_;
};

}  // namespace fogbridge
