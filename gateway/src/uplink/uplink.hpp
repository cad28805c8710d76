// The uplink worker: leases batches from the store, keeps a window of them in flight to the cloud
// broker at QoS 1, acknowledges them in the store on PUBACK, and owns reconnection with jittered
// backoff. After each connect, what was stored before it drains as replay batches at
// batch.replay_rate beside the live ones. Runs its own thread; the public methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "batch/policy.hpp"
#include "common/latency_recorder.hpp"
#include "common/tls_context.hpp"
#include "common/urgent_queue.hpp"
#include "store/store.hpp"
#include "uplink/cloud_session.hpp"
#include "uplink/cloud_settings.hpp"
#include "uplink/in_flight.hpp"

namespace fogbridge {

enum class uplink_state { disconnected, connecting, connected };
std::string_view to_string(uplink_state);

struct uplink_status {
    uplink_state state = uplink_state::disconnected;
    double since = 0;  // wall time of the last state change
    std::uint64_t connects = 0;
    std::uint64_t batches_sent = 0;
    std::uint64_t replay_batches_sent = 0;  // of them, from the backlog (tagged "replay")
    std::uint64_t batches_acked = 0;
    std::uint64_t batches_refused = 0;  // PUBACK with an error reason code
    std::uint64_t readings_acked = 0;
    std::uint64_t bytes_sent = 0;  // batch payload bytes put on the wire (after compression)
    std::uint64_t urgent_sent = 0;
    std::uint64_t alerts_dropped = 0;   // alerts pushed out of their full lane while disconnected
    std::uint64_t reports_dropped = 0;  // health reports likewise (a newer one of a topic replaces)
    std::size_t in_flight = 0;
    // How long the message waiting longest for its PUBACK has waited (empty: none in flight).
    std::optional<double> oldest_unacked_age_s;
    std::string last_error;
    std::optional<double> cert_days_left;  // the client certificate in use
};

struct uplink_settings {
    cloud_settings cloud;
    batch_settings batch;
    std::string gateway_id;
};

class uplink final {
  public:
    uplink(uplink_settings settings, store& queue);
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
    // in their own lane that goes first (see urgent_queue).
    void send_urgent(std::string topic_suffix, std::string payload, bool retain, urgent_kind kind,
                     std::string source = {});
    uplink_status status() const;
    std::string topic(std::string_view suffix) const;

  private:
    struct in_flight_entry {
        std::optional<lease> batch;  // empty for urgent messages and gap records
        std::string gap_id;          // set for a gap record message
        std::string_view what;       // for the log: "batch", "gap records", "alert", "status"
    };
    struct delayed_lease {
        lease batch;
        double not_before = 0;
    };
    void run();
    void start_session(double now);
    void end_session(double now, std::string_view why);
    void on_connected(int rc, int receive_maximum, std::uint32_t maximum_packet_size);
    void on_acknowledged(int mid, int reason_code);
    void pump(double now);
    bool pump_resend(double now);
    void pump_live(double now, std::size_t max_bytes);
    void pump_backlog(double now, std::size_t max_bytes);
    bool send_urgent_one();
    bool send_batch(lease l);
    bool send_gaps(const gap_lease& g);
    void pump_gaps(double now);
    std::optional<std::string> watchdog_verdict(std::chrono::steady_clock::time_point now) const;
    void track(int mid, in_flight_entry entry);
    void note_in_flight();
    void ack_finished();
    void set_state(uplink_state s, double now);
    void check_credentials(double now);
    void load_credentials(bool at_start);
    std::size_t window() const;

    uplink_settings settings_;
    store& store_;
    std::unique_ptr<cloud_session> session_;
    std::thread thread_;

    mutable std::mutex mutex_;  // guards urgent_, status_, stop flags
    std::condition_variable wake_cv_;
    urgent_queue urgent_;
    uplink_status status_;
    bool stop_requested_ = false;
    bool draining_ = false;
    bool reload_requested_ = false;
    std::chrono::steady_clock::time_point drain_deadline_{};
    std::optional<std::chrono::steady_clock::time_point> oldest_sent_;  // of in_flight_

    // Owned by the worker thread only.
    std::shared_ptr<tls_context> tls_;
    latency_recorder* latency_ = nullptr;
    std::string tls_stamp_;
    double tls_checked_ = 0;
    in_flight_window<in_flight_entry> in_flight_;
    std::deque<lease> resend_;
    std::deque<gap_lease> resend_gaps_;
    std::vector<std::string> acked_gaps_;
    std::deque<delayed_lease> refused_;  // refused by the broker: sent again after a pause
    std::vector<std::pair<std::string, std::size_t>> acked_;
    int receive_maximum_ = 0;
    std::uint32_t maximum_packet_size_ = 0;
    bool connack_ = false;
    double attempt_started_ = 0;
    double next_attempt_ = 0;
    double coverage_since_ = 0;
    replay_pacer pacer_;
    bool backlog_turn_ = false;  // the last batch sent was live
    std::chrono::milliseconds backoff_delay_{0};
};

}  // namespace fogbridge
