// The uplink driver: runs the uplink_engine on its own thread and does its I/O (libmosquitto via
// cloud_session, the store, TLS files). Callbacks only record link events; the thread feeds them
// to the engine and carries out its actions. A store error ends the session with backoff, never
// the process. The public methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/latency_recorder.hpp"
#include "common/tls_context.hpp"
#include "common/urgent_queue.hpp"
#include "store/store.hpp"
#include "uplink/cloud_session.hpp"
#include "uplink/uplink_engine.hpp"
#include "uplink/uplink_status.hpp"

namespace fogbridge {

class uplink final {
  public:
    uplink(uplink_settings settings, store& queue, const clock_source& clock = system_clock());
    ~uplink();
    uplink(const uplink&) = delete;
    uplink& operator=(const uplink&) = delete;

    void start();
    // Stops leasing, waits for in-flight PUBACKs until `deadline`, says offline, joins the thread.
    void stop(std::chrono::milliseconds deadline);
    // New data is in the store.
    void wake();
    // Re-reads the TLS files (SIGHUP); the uplink also notices changed files by itself.
    void reload_credentials();
    // Where PUBACK latencies go (set before start()).
    void set_latency_recorder(latency_recorder* r) { latency_ = r; }
    // An alert or report that skips batching; held in memory (bounded) while disconnected, alerts
    // in their own lane that goes first (see urgent_queue). `source` is the device it came from
    // ({device} of the stream's topic template).
    void send_urgent(upstream_stream stream, std::string payload, fogbridge::retain retain,
                     urgent_kind kind, std::string source = {});
    uplink_status status() const;
    std::string topic(upstream_stream stream, std::string_view device = {}) const;

  private:
    // What a libmosquitto callback saw, for the thread to hand to the engine.
    struct link_event {
        bool connack = false;  // else a PUBACK
        int code = 0;          // CONNACK rc / PUBACK reason code
        int mid = 0;
        broker_limits limits;
    };
    void run();
    bool turn();
    bool carry_out(const instant& now);
    void execute(const uplink_action& a, const instant& now);
    void drive_session();
    void idle();
    void start_session(const instant& now);
    void finish(const finished_action& f);
    net_error failure_reason(const net_error& why) const;
    void take_requests();
    void share_status();
    void check_credentials(const instant& now);
    void load_credentials(bool at_start);

    uplink_settings settings_;
    store& store_;
    const clock_source& clock_;
    std::thread thread_;

    mutable std::mutex mutex_;  // guards the members up to the worker's own
    std::condition_variable wake_cv_;
    std::deque<urgent_message> inbox_;
    uplink_status status_;
    std::optional<mono_time> oldest_sent_;  // of the messages in flight
    bool draining_ = false;
    bool reload_requested_ = false;
    mono_time drain_deadline_{};

    // Owned by the worker thread only.
    uplink_engine engine_;
    std::unique_ptr<cloud_session> session_;
    std::vector<link_event> events_;
    std::shared_ptr<tls_context> tls_;
    latency_recorder* latency_ = nullptr;
    std::string tls_stamp_;
    mono_time tls_checked_{};
    bool drain_told_ = false;
};

}  // namespace fogbridge
