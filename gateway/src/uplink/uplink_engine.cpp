#include "uplink/uplink_engine.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"
#include "uplink/payloads.hpp"

namespace fogbridge {
namespace {

constexpr std::size_t urgent_capacity = 10000;
constexpr double coverage_delay_s = 10;  // a filtered-only tail is reported after this long
constexpr double refused_retry_s = 5;

backoff_settings retry_settings(const cloud_settings& c) {
    using ms = std::chrono::milliseconds;
    return {ms(static_cast<long>(c.reconnect_min * 1000)),
            ms(static_cast<long>(c.reconnect_max * 1000)), 3.0};
}

double mono_s(mono_time t) { return to_seconds(t.time_since_epoch()); }

std::string_view kind_name(publish_kind k) {
    switch (k) {
        case publish_kind::batch:
            return "batch";
        case publish_kind::gaps:
            return "gap records";
        case publish_kind::status:
            return "status";
        case publish_kind::urgent:
            return "alert or report";
    }
    return "message";
}

}  // namespace

std::string_view to_string(uplink_state s) {
    switch (s) {
        case uplink_state::disconnected:
            return "disconnected";
        case uplink_state::connecting:
            return "connecting";
        case uplink_state::connected:
            return "connected";
    }
    return "?";
}

uplink_engine::uplink_engine(uplink_settings settings, std::uint32_t seed, const instant& now)
    : settings_(std::move(settings)),
      rng_(seed),
      retry_(retry_settings(settings_.cloud)),
      urgent_(urgent_capacity),
      in_flight_(mono_seconds(settings_.cloud.puback_timeout)),
      next_attempt_(now.mono),
      pacer_(settings_.batch),
      rate_(settings_.cloud.publish_rate) {
    status_.since = now.wall;
}

std::string uplink_engine::topic(upstream_stream stream) const {
    return upstream_topic(settings_.cloud, settings_.gateway_id, stream);
}

retain uplink_engine::may_retain(retain wanted) const {
    return settings_.cloud.retain_status && limits_.retain_available ? wanted : retain::no;
}

std::size_t uplink_engine::window() const {
    auto w = static_cast<std::size_t>(settings_.cloud.window);
    if (limits_.receive_maximum > 0) {
        w = std::min(w, static_cast<std::size_t>(limits_.receive_maximum));
    }
    return std::max<std::size_t>(w, 1);
}

std::size_t uplink_engine::max_batch_bytes() const {
    return upstream_payload_limit(settings_.cloud, settings_.batch.max_bytes, limits_);
}

void uplink_engine::set_state(uplink_state s, const instant& now) {
    if (status_.state == s) return;
    status_.state = s;
    status_.since = now.wall;
}

std::optional<uplink_action> uplink_engine::next_action(const instant& now,
                                                        const queue_stats& stats) {
    if (finished_ || awaited_) return std::nullopt;
    // PUBACKs are written to the store even when the link is gone since.
    if (!acked_.empty()) {
        ack_batches_action a;
        std::uint64_t readings = 0;
        for (auto& [id, n] : acked_) {
            a.batch_ids.push_back(std::move(id));
            readings += n;
        }
        status_.batches_acked += acked_.size();
        status_.readings_acked += readings;
        acked_.clear();
        return a;
    }
    if (!acked_gaps_.empty()) {
        ack_gaps_action a{std::move(acked_gaps_.back())};
        acked_gaps_.pop_back();
        return a;
    }
    if (drop_link_) {
        drop_link_ = false;
        return disconnect_action{};
    }
    if (auto a = link_action(now)) return a;
    if (!connected()) return std::nullopt;
    if (!rate_.ready(now.mono)) return std::nullopt;  // next_deadline() says when
    if (say_online_) {
        // Tracked like the rest: a link that swallows it is as dead as one that swallows a batch.
        say_online_ = false;
        awaited_ = awaited{publish_kind::status, {}, {}, {}, 0};
        return counted(publish_action{.topic = topic(upstream_stream::status),
                                      .payload = "online",
                                      .retain = may_retain(),
                                      .kind = publish_kind::status,
                                      .batch_id = {}},
                       now);
    }
    if (resume_) {
        resume_ = false;
        return resume_action{};
    }
    return counted(pump(now, stats), now);
}

std::optional<uplink_action> uplink_engine::counted(std::optional<uplink_action> a,
                                                    const instant& now) {
    if (a && std::holds_alternative<publish_action>(*a)) rate_.spend(now.mono);
    return a;
}

std::optional<uplink_action> uplink_engine::link_action(const instant& now) {
    if (!session_) {
        if (draining_) {
            finished_ = true;
            return finished_action{false};
        }
        if (now.mono < next_attempt_) return std::nullopt;
        session_ = true;
        limits_ = {};
        attempt_started_ = now.mono;
        set_state(uplink_state::connecting, now);
        return connect_action{};
    }
    // A drain still sends what is urgent (alerts, the stopping health report) if it can.
    const bool idle = in_flight_.empty() && (!connected() || urgent_.empty());
    if (draining_ && (idle || now.mono >= drain_deadline_)) {
        const bool say_offline = connected();
        session_ = false;
        finished_ = true;
        set_state(uplink_state::disconnected, now);
        return finished_action{.say_offline = say_offline, .retain = may_retain()};
    }
    if (!connected()) {
        if (now.mono - attempt_started_ <= mono_seconds(settings_.cloud.connect_timeout)) {
            return std::nullopt;
        }
        end_session(
            {.code = net_errc::timed_out, .text = "no CONNACK within cloud.connect_timeout"}, now,
            false);
        return disconnect_action{};
    }
    if (!in_flight_.overdue(now.mono)) return std::nullopt;
    end_session({.code = net_errc::timed_out, .text = watchdog_verdict(now.mono)}, now, false);
    return disconnect_action{};
}

std::string uplink_engine::watchdog_verdict(mono_time now) const {
    const auto mid = in_flight_.oldest_mid();
    const double age = to_seconds(in_flight_.oldest_age(now).value_or(mono_clock::duration{}));
    // Other messages may have been acknowledged since: this one is lost, and the link with it.
    const auto* entry = mid ? in_flight_.find(*mid) : nullptr;
    std::string what = entry != nullptr ? std::string(kind_name(entry->kind)) : "message";
    if (entry != nullptr && entry->batch) what += " " + entry->batch->batch_id;
    return fmt::format(
        "no PUBACK for {} (message id {}) after {:.1f} s (cloud.puback_timeout {:g} s, {} "
        "messages in flight); replacing the connection, it is sent again",
        what, mid.value_or(0), age, settings_.cloud.puback_timeout, in_flight_.size());
}

std::optional<mono_time> uplink_engine::next_deadline() const {
    std::optional<mono_time> at;
    const auto earliest = [&](mono_time t) { at = at ? std::min(*at, t) : t; };
    if (draining_) earliest(drain_deadline_);
    if (!session_) {
        earliest(next_attempt_);  // what batches wait for counts only once connected
        return at;
    }
    if (!connected()) {
        earliest(attempt_started_ + mono_seconds(settings_.cloud.connect_timeout));
        return at;
    }
    if (const auto d = in_flight_.next_deadline()) earliest(*d);
    if (const auto r = rate_.ready_at()) earliest(*r);
    if (!refused_.empty()) earliest(refused_.front().not_before);
    if (live_age_.stamp) earliest(live_age_.seen + mono_seconds(settings_.batch.max_delay));
    if (coverage_since_) earliest(*coverage_since_ + mono_seconds(coverage_delay_s));
    return at;
}

void uplink_engine::end_session(const status_error& reason, const instant& now, bool quiet) {
    const auto& e = settings_.cloud.endpoint;
    if (!quiet) {
        log::write_limited(
            log::level::error, fmt::format("uplink:{}", reason.text), std::chrono::seconds(60),
            fmt::format("cloud broker {}:{}: {}{}{}", e.host, e.port,
                        connected() ? "connection lost: " : "cannot connect: ", reason.text,
                        draining_ ? "" : "; retrying"));
        status_.last_error = reason;
    }
    session_ = false;
    in_flight_.clear();  // leased batches stay in the store and are re-sent with the same ids
    urgent_in_flight_ = 0;
    status_.in_flight = 0;
    resend_.clear();
    resend_gaps_.clear();
    refused_.clear();
    awaited_.reset();
    say_online_ = false;
    resume_ = false;
    set_state(uplink_state::disconnected, now);
    next_attempt_ = now.mono + retry_.next(rng_);
}

void uplink_engine::on_connected(const broker_limits& limits, const instant& now) {
    if (!session_) return;
    limits_ = limits;
    retry_.reset();
    ++status_.connects;
    status_.last_error = {};
    set_state(uplink_state::connected, now);
    const auto& e = settings_.cloud.endpoint;
    log::info("cloud broker {}:{}: connected (MQTT {}, window {})", e.host, e.port,
              settings_.cloud.mqtt_version == 5 ? "5" : "3.1.1", window());
    say_online_ = true;
    resume_ = true;  // what is leased goes again first, with the same ids; then the backlog
}

void uplink_engine::on_connection_lost(const net_error& reason, const instant& now) {
    if (!session_) return;
    if (!reason) {
        end_session({.code = net_errc::connection_lost, .text = "connection lost"}, now, false);
        return;
    }
    end_session({.code = reason.code(), .text = reason.text()}, now, false);
}

void uplink_engine::on_resume(std::vector<lease> leased, std::vector<gap_lease> gaps,
                              std::size_t backlog, const instant& now) {
    resend_gaps_.assign(std::make_move_iterator(gaps.begin()), std::make_move_iterator(gaps.end()));
    resend_.assign(std::make_move_iterator(leased.begin()), std::make_move_iterator(leased.end()));
    pacer_.restart(mono_s(now.mono));
    if (backlog == 0) return;
    const double rate = settings_.batch.replay_rate;
    log::info("{} readings stored before this connection drain as replay{}", backlog,
              rate > 0 ? fmt::format(" at {:g} readings/s", rate) : std::string());
}

void uplink_engine::on_store_error(const std::error_code& code, std::string_view what,
                                   const instant& now) {
    ++status_.store_errors;
    const status_error reason{.code = code, .text = fmt::format("store error: {}", what)};
    if (session_) {
        drop_link_ = true;
        end_session(reason, now, false);
        return;
    }
    log::write_limited(log::level::error, "uplink-store", std::chrono::seconds(60),
                       fmt::format("uplink: {}; retrying", reason.text));
    status_.last_error = reason;
    next_attempt_ = now.mono + retry_.next(rng_);
}

void uplink_engine::queue_urgent(urgent_message m) {
    urgent_.push(std::move(m));
    status_.alerts_dropped = urgent_.dropped(urgent_kind::alert);
    status_.reports_dropped = urgent_.dropped(urgent_kind::report);
}

void uplink_engine::request_rotation(const instant& now) {
    if (session_) {
        drop_link_ = true;
        end_session({.code = net_errc::credentials_rotated, .text = {}}, now, true);
    }
    retry_.reset();
    next_attempt_ = now.mono;
}

void uplink_engine::request_drain(mono_time deadline) {
    draining_ = true;
    drain_deadline_ = deadline;
}

std::optional<double> uplink_engine::on_puback(const puback& ack, const instant& now) {
    const int reason_code = ack.reason_code;
    auto acked = in_flight_.take(ack.mid, now.mono);
    if (!acked) return std::nullopt;  // a session already given up
    status_.in_flight = in_flight_.size();
    auto& entry = acked->item;
    if (entry.kind == publish_kind::urgent && urgent_in_flight_ > 0) --urgent_in_flight_;
    const double latency = to_seconds(acked->latency);
    if (reason_code >= 0x80) {
        // Refused, not lost: the batch stays leased and goes again after a pause.
        log::write_limited(log::level::warn, fmt::format("uplink-refused-{}", reason_code),
                           std::chrono::seconds(30),
                           fmt::format("cloud broker refused a publish: {} (reason code 0x{:02x}); "
                                       "it stays queued and is sent again",
                                       puback_reason_name(reason_code), reason_code));
        if (entry.batch) {
            refused_.push_back({std::move(*entry.batch), now.mono + mono_seconds(refused_retry_s)});
        }
        ++status_.batches_refused;
        return latency;
    }
    if (!entry.gap_id.empty()) {
        acked_gaps_.push_back(std::move(entry.gap_id));
    } else if (entry.batch) {
        acked_.emplace_back(std::move(entry.batch->batch_id), entry.batch->readings.size());
    }
    return latency;
}

void uplink_engine::on_published(std::optional<int> mid, const instant& now) {
    if (!awaited_) return;
    awaited a = std::move(*awaited_);
    awaited_.reset();
    if (!mid) {
        // libmosquitto refused it (its queue is full): it waits at the head of its lane.
        publish_blocked_at_ = now.mono;
        if (a.batch) resend_.push_front(std::move(*a.batch));
        if (a.gaps) resend_gaps_.push_front(std::move(*a.gaps));
        if (a.urgent) urgent_.push_front(std::move(*a.urgent));
        return;
    }
    if (a.kind == publish_kind::batch && a.batch) {
        ++status_.batches_sent;
        if (a.batch->replay) ++status_.replay_batches_sent;
        status_.bytes_sent += a.payload_bytes;
        backlog_turn_ = !a.batch->replay;
    }
    if (a.kind == publish_kind::urgent) {
        ++status_.urgent_sent;
        ++urgent_in_flight_;
    }
    urgent_last_ = a.kind == publish_kind::urgent;
    in_flight_.add(*mid, in_flight_entry{std::move(a.batch), a.gaps ? a.gaps->gap_id : "", a.kind},
                   now.mono);
    status_.in_flight = in_flight_.size();
}

}  // namespace fogbridge
