#include "uplink/uplink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <type_traits>

#include "common/log.hpp"
#include "common/this_thread.hpp"
#include "uplink/payloads.hpp"

namespace fogbridge {
namespace {

constexpr int loop_timeout_ms = 5;
constexpr auto idle_wait_max = std::chrono::milliseconds(200);
constexpr double credential_check_s = 2;

}  // namespace

uplink::uplink(uplink_settings settings, store& queue, const clock_source& clock)
    : settings_(std::move(settings)),
      store_(queue),
      clock_(clock),
      engine_(settings_, std::random_device{}(), clock.now()) {
    status_ = engine_.status();
    load_credentials(true);
}

uplink::~uplink() { stop(std::chrono::milliseconds(0)); }

std::string uplink::topic(upstream_stream stream, std::string_view device) const {
    return upstream_topic(settings_.cloud, settings_.gateway_id, stream, device);
}

void uplink::start() {
    thread_ = std::thread([this] { run(); });
}

void uplink::stop(std::chrono::milliseconds deadline) {
    {
        const std::lock_guard lock(mutex_);
        if (!thread_.joinable()) return;
        draining_ = true;
        drain_deadline_ = clock_.now().mono + deadline;
    }
    wake_cv_.notify_all();
    thread_.join();
}

void uplink::wake() { wake_cv_.notify_all(); }

void uplink::reload_credentials() {
    {
        const std::lock_guard lock(mutex_);
        reload_requested_ = true;
    }
    wake();
}

void uplink::send_urgent(upstream_stream stream, std::string payload, fogbridge::retain retain,
                         urgent_kind kind, std::string source) {
    {
        const std::lock_guard lock(mutex_);
        inbox_.push_back(
            {topic(stream, source), std::move(payload), retain, kind, std::move(source)});
    }
    wake();
}

uplink_status uplink::status() const {
    const std::lock_guard lock(mutex_);
    uplink_status s = status_;
    if (oldest_sent_) s.oldest_unacked_age_s = to_seconds(clock_.now().mono - *oldest_sent_);
    return s;
}

void uplink::run() {
    name_this_thread("fb-uplink");
    while (turn()) {
        if (session_) {
            drive_session();
        } else {
            idle();
        }
    }
    share_status();
    log::flush_held();
}

// One turn: requests in, then every action the engine has now.
bool uplink::turn() {
    const instant now = clock_.now();
    check_credentials(now);
    take_requests();
    bool go_on = true;
    try {
        go_on = carry_out(now);
    } catch (const store_error& e) {
        // The session ends with backoff; the store is tried again on the next one.
        engine_.on_store_error(e.code(), e.what(), now);
    }
    share_status();
    return go_on;
}

bool uplink::carry_out(const instant& now) {
    while (auto a = engine_.next_action(now, store_.stats())) {
        if (const auto* f = std::get_if<finished_action>(&*a)) {
            finish(*f);
            return false;
        }
        execute(*a, now);
    }
    return true;
}

void uplink::execute(const uplink_action& action, const instant& now) {
    std::visit(
        [&](const auto& a) {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, publish_action>) {
                engine_.on_published(
                    session_ ? session_->publish(a.topic, a.payload, a.retain, a.encoding)
                             : std::nullopt,
                    now);
            } else if constexpr (std::is_same_v<T, connect_action>) {
                start_session(now);
            } else if constexpr (std::is_same_v<T, disconnect_action>) {
                session_.reset();
                events_.clear();
            } else if constexpr (std::is_same_v<T, lease_batch_action>) {
                engine_.on_batch_leased(
                    store_.lease_batch(a.max_readings, a.max_bytes, a.wall_now, a.lane), now);
            } else if constexpr (std::is_same_v<T, lease_gaps_action>) {
                engine_.on_gaps_leased(store_.lease_gaps(a.max_records, a.wall_now), now);
            } else if constexpr (std::is_same_v<T, resume_action>) {
                auto gaps = store_.leased_gaps();
                auto leased = store_.leased_batches();
                const std::size_t backlog = store_.start_backlog();
                engine_.on_resume(std::move(leased), std::move(gaps), backlog, now);
            } else if constexpr (std::is_same_v<T, ack_batches_action>) {
                store_.ack_batches(a.batch_ids);  // one transaction for the PUBACKs of a turn
            } else if constexpr (std::is_same_v<T, ack_gaps_action>) {
                store_.ack_gaps(a.gap_id);
            }
        },
        action);
}

void uplink::drive_session() {
    const net_error gone = session_->run(loop_timeout_ms);
    const instant now = clock_.now();
    for (const auto& ev : events_) {
        if (ev.connack) {
            if (ev.code == 0) engine_.on_connected(ev.limits, now);
        } else if (const auto latency =
                       engine_.on_puback({.mid = ev.mid, .reason_code = ev.code}, now)) {
            if (latency_ != nullptr) latency_->record(*latency);
        }
    }
    events_.clear();
    if (gone) {
        engine_.on_connection_lost(failure_reason(gone), now);
        session_.reset();
    }
}

void uplink::idle() {
    const instant now = clock_.now();
    auto wait = std::chrono::duration_cast<mono_clock::duration>(idle_wait_max);
    if (const auto due = engine_.next_deadline()) {
        wait = std::clamp(*due - now.mono, mono_clock::duration::zero(), wait);
    }
    std::unique_lock lock(mutex_);
    wake_cv_.wait_for(lock, wait,
                      [&] { return draining_ || reload_requested_ || !inbox_.empty(); });
}

void uplink::start_session(const instant& now) {
    session_events ev;
    ev.connected = [this](int rc, const broker_limits& limits) {
        events_.push_back({true, rc, 0, limits});
    };
    ev.acknowledged = [this](int mid, int reason) { events_.push_back({false, reason, mid, {}}); };
    events_.clear();
    try {
        if (tls_) tls_->clear_verify_error();
        session_ = std::make_unique<cloud_session>(settings_.cloud, tls_ ? tls_->native() : nullptr,
                                                   topic(upstream_stream::status), std::move(ev));
    } catch (const std::exception& e) {
        engine_.on_connection_lost({net_errc::tls_setup, e.what()}, now);
        return;
    }
    if (const net_error failed = session_->connect()) {
        engine_.on_connection_lost(failure_reason(failed), now);
        session_.reset();
    }
}

void uplink::finish(const finished_action& f) {
    if (!session_) return;
    if (f.say_offline) {
        session_->publish(topic(upstream_stream::status), "offline", f.retain, compression::none);
    }
    session_->run(loop_timeout_ms);
    session_->disconnect();
    session_.reset();
}

// OpenSSL's own verdict on the broker's certificate says more than the handshake error.
net_error uplink::failure_reason(const net_error& why) const {
    if (tls_ && !tls_->last_verify_error().empty()) {
        return {net_errc::tls_handshake, tls_->last_verify_error()};
    }
    return explain_tls_failure(why);
}

void uplink::take_requests() {
    std::deque<urgent_message> inbox;
    std::optional<mono_time> drain;
    {
        const std::lock_guard lock(mutex_);
        inbox.swap(inbox_);
        if (draining_ && !drain_told_) drain = drain_deadline_;
    }
    for (auto& m : inbox) engine_.queue_urgent(std::move(m));
    if (drain) {
        drain_told_ = true;
        engine_.request_drain(*drain);
    }
}

void uplink::share_status() {
    const std::lock_guard lock(mutex_);
    status_ = engine_.status();
    oldest_sent_ = engine_.oldest_sent();
}

void uplink::check_credentials(const instant& now) {
    bool forced = false;
    {
        const std::lock_guard lock(mutex_);
        forced = reload_requested_;
        reload_requested_ = false;
    }
    if (!forced && now.mono - tls_checked_ < mono_seconds(credential_check_s)) return;
    tls_checked_ = now.mono;
    log::flush_held();  // held-back counts show within their interval, even in a quiet log
    if (settings_.cloud.endpoint.tls.ca_file.empty()) return;
    if (forced || credential_stamp(settings_.cloud.endpoint.tls) != tls_stamp_) {
        load_credentials(false);
    }
}

void uplink::load_credentials(bool at_start) {
    const auto& tls = settings_.cloud.endpoint.tls;
    if (tls.ca_file.empty()) return;
    const instant now = clock_.now();
    const auto stamp = credential_stamp(tls);
    std::shared_ptr<tls_context> fresh;
    std::string problem;
    try {
        // Certificate validity is a matter of the wall clock.
        fresh = std::make_shared<tls_context>(tls, settings_.cloud.endpoint.host, now.wall);
        if (const auto& why = fresh->chain_problem()) problem = why.text();
    } catch (const std::exception& e) {
        if (at_start) throw std::runtime_error(fmt::format("cloud TLS: {}", e.what()));
        problem = e.what();
    }
    tls_stamp_ = stamp;
    if (at_start) {
        // A certificate the CA file does not vouch for may still be accepted by the broker: warn.
        if (!problem.empty()) log::warn("cloud TLS: {}", problem);
    } else if (!problem.empty()) {
        log::error("certificate rotation refused, keeping the current credentials: {}", problem);
        return;
    }
    tls_ = std::move(fresh);
    const auto days = tls_->days_left();
    if (days && *days < settings_.cloud.cert_warn_days) {
        log::warn("cloud TLS: the client certificate expires in {:.1f} days", *days);
    }
    engine_.set_cert_days_left(days);
    if (at_start) {
        const std::lock_guard lock(mutex_);
        status_.cert_days_left = days;
        return;
    }
    log::info("certificate rotation: new credentials checked (expire in {:.0f} days); reconnecting",
              days.value_or(0));
    engine_.request_rotation(now);
}

}  // namespace fogbridge
