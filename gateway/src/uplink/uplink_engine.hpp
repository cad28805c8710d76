// The uplink's decisions without I/O, threads or a clock of its own (Sans-I/O): events in (the
// link came up with the broker's limits, a PUBACK, a leased batch, a store error...), actions out
// (publish, lease, acknowledge in the store, connect, drop the link), every time passed in. The
// driver (uplink.cpp) carries the actions out and answers those that ask (see uplink_action).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "batch/policy.hpp"
#include "common/clock.hpp"
#include "common/net_error.hpp"
#include "common/publish_options.hpp"
#include "common/status_error.hpp"
#include "common/urgent_queue.hpp"
#include "fogbridge/backoff.hpp"
#include "store/store.hpp"
#include "uplink/broker_limits.hpp"
#include "uplink/cloud_settings.hpp"
#include "uplink/in_flight.hpp"
#include "uplink/publish_rate.hpp"
#include "uplink/topics.hpp"
#include "uplink/uplink_status.hpp"

namespace fogbridge {

struct uplink_settings {
    cloud_settings cloud;
    batch_settings batch;
    std::string gateway_id;
};

enum class publish_kind { batch, gaps, status, urgent };

// Publish at QoS 1. Answer: on_published(mid or nullopt when refused locally).
struct publish_action {
    std::string topic;
    std::string payload;
    fogbridge::retain retain = retain::no;
    compression encoding = compression::none;  // content type of a compressed batch
    publish_kind kind = publish_kind::batch;
    std::string batch_id;  // for a batch: what the cloud deduplicates on
};
// A PUBACK: the message id it acknowledges and its reason code (0: accepted).
struct puback {
    int mid = 0;
    int reason_code = 0;
};

// Open a new link. Answer: on_connected / on_connection_lost, later.
struct connect_action {};
// Drop the link now (the engine gave up on it; the reason is in status().last_error).
struct disconnect_action {};
// store.lease_batch(...). Answer: on_batch_leased.
struct lease_batch_action {
    std::size_t max_readings = 0;
    std::size_t max_bytes = 0;
    double wall_now = 0;
    lease_lane lane = lease_lane::live;
};
// store.lease_gaps(...). Answer: on_gaps_leased.
struct lease_gaps_action {
    std::size_t max_records = 0;
    double wall_now = 0;
};
// After a connect: store.leased_gaps(), leased_batches(), start_backlog(). Answer: on_resume.
struct resume_action {};
// store.ack_batches(ids) / ack_gaps(id). No answer.
struct ack_batches_action {
    std::vector<std::string> batch_ids;
};
struct ack_gaps_action {
    std::string gap_id;
};
// The drain is over: say "offline" (retained if the broker allows) when connected, disconnect.
struct finished_action {
    bool say_offline = false;
    fogbridge::retain retain = retain::yes;
};

using uplink_action = std::variant<publish_action, connect_action, disconnect_action,
                                   lease_batch_action, lease_gaps_action, resume_action,
                                   ack_batches_action, ack_gaps_action, finished_action>;

class uplink_engine final {
  public:
    uplink_engine(uplink_settings settings, std::uint32_t seed, const instant& now);

    // The next thing to do at `now` with the store as `stats` says, or nullopt: nothing until an
    // event or next_deadline(). Call again after carrying out (and answering) each action.
    std::optional<uplink_action> next_action(const instant& now, const queue_stats& stats);
    // The earliest time a timer of the engine is due (reconnect, CONNACK or PUBACK deadline,
    // refused retry); the driver wakes then at the latest.
    std::optional<mono_time> next_deadline() const;

    // Link events.
    void on_connected(const broker_limits& limits, const instant& now);
    void on_connection_lost(const net_error& reason, const instant& now);
    // Returns the PUBACK's latency in seconds when the message was in flight.
    std::optional<double> on_puback(const puback& ack, const instant& now);
    // Answers.
    void on_published(std::optional<int> mid, const instant& now);
    void on_batch_leased(std::optional<lease> l, const instant& now);
    void on_gaps_leased(std::optional<gap_lease> g, const instant& now);
    void on_resume(std::vector<lease> leased, std::vector<gap_lease> gaps, std::size_t backlog,
                   const instant& now);
    // A store call failed (`code` a store_errc, `what` its text): the session ends with backoff;
    // the store is tried again on the next.
    void on_store_error(const std::error_code& code, std::string_view what, const instant& now);
    // Requests.
    void queue_urgent(urgent_message m);
    void request_rotation(const instant& now);  // new credentials: reconnect at once
    void request_drain(mono_time deadline);
    void set_cert_days_left(std::optional<double> days) { status_.cert_days_left = days; }

    const uplink_status& status() const { return status_; }
    std::optional<mono_time> oldest_sent() const { return in_flight_.oldest_sent(); }
    std::size_t window() const;
    bool connected() const { return status_.state == uplink_state::connected; }

  private:
    struct in_flight_entry {
        std::optional<lease> batch;  // empty for urgent messages and gap records
        std::string gap_id;          // set for a gap record message
        publish_kind kind = publish_kind::batch;
    };
    struct delayed_lease {
        lease batch;
        mono_time not_before;
    };
    // What the last action asked the driver, until it answers.
    struct awaited {
        publish_kind kind = publish_kind::batch;
        std::optional<lease> batch;
        std::optional<gap_lease> gaps;
        std::optional<urgent_message> urgent;
        std::size_t payload_bytes = 0;
    };
    // A stored timestamp's age on the monotonic clock: a wall step after it was first seen does
    // not move it (see age_of).
    struct age_anchor {
        std::optional<double> stamp;
        mono_time seen{};
    };

    std::optional<uplink_action> link_action(const instant& now);
    std::optional<uplink_action> pump(const instant& now, const queue_stats& stats);
    std::optional<uplink_action> pump_urgent(bool batches_wait);
    std::optional<uplink_action> pump_gaps(const instant& now, const queue_stats& stats);
    std::optional<uplink_action> pump_resend(const instant& now);
    std::optional<uplink_action> pump_live(const instant& now, const queue_stats& stats);
    std::optional<uplink_action> pump_backlog(const instant& now, const queue_stats& stats);
    publish_action publish_batch(lease l);
    publish_action publish_gaps(gap_lease g);
    bool batches_wait(const instant& now, const queue_stats& stats);
    bool live_due(const instant& now, const queue_stats& stats);
    double age_of(std::optional<double> stamp, age_anchor& anchor, const instant& now) const;
    std::string watchdog_verdict(mono_time now) const;
    void end_session(const status_error& reason, const instant& now, bool quiet);
    void set_state(uplink_state s, const instant& now);
    std::size_t max_batch_bytes() const;
    std::string topic(upstream_stream stream) const;
    // Status and health go retained only where the profile and the broker allow it.
    fogbridge::retain may_retain(fogbridge::retain wanted = retain::yes) const;
    // Counts a publish against cloud.publish_rate.
    std::optional<uplink_action> counted(std::optional<uplink_action> a, const instant& now);

    uplink_settings settings_;
    std::minstd_rand rng_;
    backoff retry_;
    uplink_status status_;
    urgent_queue urgent_;
    in_flight_window<in_flight_entry> in_flight_;
    std::optional<awaited> awaited_;
    std::deque<lease> resend_;
    std::deque<gap_lease> resend_gaps_;
    std::deque<delayed_lease> refused_;  // refused by the broker: sent again after a pause
    std::vector<std::string> acked_gaps_;
    std::vector<std::pair<std::string, std::size_t>> acked_;
    broker_limits limits_;
    bool session_ = false;  // the driver holds a link (connecting or connected)
    bool drop_link_ = false;
    bool say_online_ = false;
    bool resume_ = false;
    bool draining_ = false;
    mono_time drain_deadline_{};
    mono_time attempt_started_{};
    mono_time next_attempt_{};
    bool finished_ = false;
    // Asked this turn and refused or empty: not asked again until time moves.
    std::optional<mono_time> publish_blocked_at_;
    std::optional<mono_time> live_empty_at_;
    std::optional<mono_time> backlog_empty_at_;
    std::optional<mono_time> gaps_empty_at_;
    std::optional<lease_lane> leasing_;  // the lane of the lease asked for
    std::optional<mono_time> coverage_since_;
    age_anchor live_age_;
    age_anchor gap_age_;
    replay_pacer pacer_;
    publish_rate rate_;
    bool backlog_turn_ = false;  // the last batch sent was live
    bool urgent_last_ = false;   // the last publish was urgent (window of one: take turns)
    std::size_t urgent_in_flight_ = 0;
};

}  // namespace fogbridge
