#include "uplink/uplink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "batch/batch.hpp"
#include "batch/compress.hpp"
#include "batch/policy.hpp"
#include "common/log.hpp"
#include "common/this_thread.hpp"
#include "fogbridge/backoff.hpp"
#include "uplink/payloads.hpp"

namespace fogbridge {
namespace {

constexpr int loop_timeout_ms = 5;
constexpr std::size_t urgent_capacity = 10000;
constexpr double coverage_delay_s = 10;          // a filtered-only tail is reported after this long
constexpr std::uint32_t packet_overhead = 1024;  // fixed header, topic and properties at most
constexpr double refused_retry_s = 5;
constexpr std::size_t gap_batch_records = 32;  // gap records wait for this many, or max_delay

double wall_now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::chrono::steady_clock::time_point steady_now() { return std::chrono::steady_clock::now(); }

std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(s));
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

uplink::uplink(uplink_settings settings, store& queue)
    : settings_(std::move(settings)),
      store_(queue),
      urgent_(urgent_capacity),
      in_flight_(seconds(settings_.cloud.puback_timeout)),
      pacer_(settings_.batch.replay_rate, settings_.batch.max_readings) {
    status_.since = wall_now();
    load_credentials(true);
}

void uplink::load_credentials(bool at_start) {
    const auto& tls = settings_.cloud.endpoint.tls;
    if (tls.ca_file.empty()) return;
    const double now = wall_now();
    const auto stamp = credential_stamp(tls);
    std::shared_ptr<tls_context> fresh;
    std::string problem;
    try {
        fresh = std::make_shared<tls_context>(tls, settings_.cloud.endpoint.host, now);
        problem = fresh->chain_problem();
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
    {
        const std::lock_guard lock(mutex_);
        status_.cert_days_left = days;
    }
    if (!at_start) {
        log::info(
            "certificate rotation: new credentials checked (expire in {:.0f} days); reconnecting",
            days.value_or(0));
        if (session_) end_session(now, "");
        next_attempt_ = 0;
    }
}

void uplink::reload_credentials() {
    {
        const std::lock_guard lock(mutex_);
        reload_requested_ = true;
    }
    wake();
}

void uplink::check_credentials(double now) {
    constexpr double check_interval_s = 2;
    bool forced = false;
    {
        const std::lock_guard lock(mutex_);
        forced = reload_requested_;
        reload_requested_ = false;
    }
    if (!forced && now - tls_checked_ < check_interval_s) return;
    tls_checked_ = now;
    log::flush_held();  // held-back counts show within their interval, even in a quiet log
    if (settings_.cloud.endpoint.tls.ca_file.empty()) return;
    if (forced || credential_stamp(settings_.cloud.endpoint.tls) != tls_stamp_)
        load_credentials(false);
}

uplink::~uplink() { stop(std::chrono::milliseconds(0)); }

std::string uplink::topic(std::string_view suffix) const {
    return fmt::format("{}/{}/{}", settings_.cloud.topic_prefix, settings_.gateway_id, suffix);
}

void uplink::start() {
    thread_ = std::thread([this] { run(); });
}

void uplink::stop(std::chrono::milliseconds deadline) {
    {
        const std::lock_guard lock(mutex_);
        if (!thread_.joinable()) return;
        draining_ = true;
        drain_deadline_ = std::chrono::steady_clock::now() + deadline;
    }
    wake_cv_.notify_all();
    thread_.join();
}

void uplink::wake() { wake_cv_.notify_all(); }

void uplink::send_urgent(std::string topic_suffix, std::string payload, bool retain,
                         urgent_kind kind, std::string source) {
    {
        const std::lock_guard lock(mutex_);
        urgent_.push({topic(topic_suffix), std::move(payload), retain, kind, std::move(source)});
        status_.alerts_dropped = urgent_.dropped(urgent_kind::alert);
        status_.reports_dropped = urgent_.dropped(urgent_kind::report);
    }
    wake();
}

uplink_status uplink::status() const {
    const std::lock_guard lock(mutex_);
    uplink_status s = status_;
    if (oldest_sent_)
        s.oldest_unacked_age_s =
            std::chrono::duration<double>(steady_now() - *oldest_sent_).count();
    return s;
}

void uplink::set_state(uplink_state s, double now) {
    const std::lock_guard lock(mutex_);
    if (status_.state == s) return;
    status_.state = s;
    status_.since = now;
}

std::size_t uplink::window() const {
    std::size_t w = static_cast<std::size_t>(settings_.cloud.window);
    if (receive_maximum_ > 0) w = std::min(w, static_cast<std::size_t>(receive_maximum_));
    return std::max<std::size_t>(w, 1);
}

void uplink::run() {
    name_this_thread("fb-uplink");
    std::minstd_rand rng(std::random_device{}());
    using ms = std::chrono::milliseconds;
    backoff retry({ms(static_cast<long>(settings_.cloud.reconnect_min * 1000)),
                   ms(static_cast<long>(settings_.cloud.reconnect_max * 1000)), 3.0});
    for (;;) {
        const double now = wall_now();
        check_credentials(now);
        bool draining = false;
        {
            const std::lock_guard lock(mutex_);
            draining = draining_;
            // A drain still sends what is urgent (alerts, the stopping health report) if it can.
            const bool idle = in_flight_.empty() && (!connack_ || urgent_.empty());
            if (draining && (idle || std::chrono::steady_clock::now() >= drain_deadline_)) break;
        }
        if (!session_) {
            if (draining) break;
            if (now >= next_attempt_) {
                start_session(now);
            } else {
                std::unique_lock lock(mutex_);
                wake_cv_.wait_for(lock,
                                  std::chrono::duration<double>(std::min(next_attempt_ - now, 0.2)),
                                  [&] { return draining_; });
            }
            continue;
        }
        const bool alive = session_->run(loop_timeout_ms);
        ack_finished();
        const double t = wall_now();
        if (alive && !connack_ && t - attempt_started_ > settings_.cloud.connect_timeout) {
            end_session(t, "no CONNACK within cloud.connect_timeout");
        } else if (const auto overdue = alive ? watchdog_verdict(steady_now()) : std::nullopt) {
            end_session(t, *overdue);
        } else if (!alive) {
            end_session(t, session_->last_error());
        } else if (connack_) {
            retry.reset();
            if (draining) {
                while (in_flight_.size() < window() && send_urgent_one()) {
                }
            } else {
                pump(t);
            }
        }
        if (!session_) {
            backoff_delay_ = retry.next(rng);
            next_attempt_ = wall_now() + static_cast<double>(backoff_delay_.count()) / 1000.0;
        }
    }
    if (session_) {
        if (connack_) session_->publish(topic("status"), "offline", true, false);
        session_->run(loop_timeout_ms);
        session_->disconnect();
        session_.reset();
    }
    set_state(uplink_state::disconnected, wall_now());
    log::flush_held();
}

void uplink::start_session(double now) {
    session_events ev;
    ev.connected = [this](int rc, int rmax, std::uint32_t mps) { on_connected(rc, rmax, mps); };
    ev.acknowledged = [this](int mid, int reason) { on_acknowledged(mid, reason); };
    connack_ = false;
    receive_maximum_ = 0;
    maximum_packet_size_ = 0;
    attempt_started_ = now;
    try {
        if (tls_) tls_->clear_verify_error();
        session_ = std::make_unique<cloud_session>(settings_.cloud, tls_ ? tls_->native() : nullptr,
                                                   topic("status"), std::move(ev));
    } catch (const std::exception& e) {
        log::write_limited(log::level::error, "uplink-setup", std::chrono::seconds(60), e.what());
        next_attempt_ = now + settings_.cloud.reconnect_max;
        return;
    }
    set_state(uplink_state::connecting, now);
    if (!session_->connect()) end_session(now, session_->last_error());
}

void uplink::end_session(double now, std::string_view why) {
    const auto& e = settings_.cloud.endpoint;
    // OpenSSL's own verdict on the broker's certificate says more than the handshake error.
    const bool verify_failed = tls_ && !tls_->last_verify_error().empty();
    const std::string reason = verify_failed
                                   ? tls_->last_verify_error()
                                   : explain_tls_failure(why.empty() ? "connection lost" : why);
    const bool was_connected = connack_;
    bool stopping = false;
    {
        const std::lock_guard lock(mutex_);
        stopping = draining_;
        status_.last_error = reason;
    }
    log::write_limited(log::level::error, fmt::format("uplink:{}", reason),
                       std::chrono::seconds(60),
                       fmt::format("cloud broker {}:{}: {}{}{}", e.host, e.port,
                                   was_connected ? "connection lost: " : "cannot connect: ", reason,
                                   stopping ? "" : "; retrying"));
    session_.reset();
    in_flight_.clear();  // leased batches stay in the store and are re-sent with the same ids
    note_in_flight();
    resend_.clear();
    resend_gaps_.clear();
    refused_.clear();
    connack_ = false;
    set_state(uplink_state::disconnected, now);
}

void uplink::on_connected(int rc, int receive_maximum, std::uint32_t maximum_packet_size) {
    if (rc != 0) return;  // the session ends; run() reports last_error
    connack_ = true;
    receive_maximum_ = receive_maximum;
    maximum_packet_size_ = maximum_packet_size;
    const auto& e = settings_.cloud.endpoint;
    log::info("cloud broker {}:{}: connected (MQTT {}, window {})", e.host, e.port,
              settings_.cloud.mqtt_version == 5 ? "5" : "3.1.1", window());
    {
        const std::lock_guard lock(mutex_);
        ++status_.connects;
        status_.last_error.clear();
    }
    set_state(uplink_state::connected, wall_now());
    // Tracked like the rest: a link that swallows it is as dead as one that swallows a batch.
    if (const auto mid = session_->publish(topic("status"), "online", true, false))
        track(*mid, in_flight_entry{std::nullopt, {}, "status"});
    // Everything leased but not acknowledged goes again first, with the same batch ids.
    auto gaps = store_.leased_gaps();
    resend_gaps_.assign(std::make_move_iterator(gaps.begin()), std::make_move_iterator(gaps.end()));
    auto leased = store_.leased_batches();
    resend_.assign(std::make_move_iterator(leased.begin()), std::make_move_iterator(leased.end()));
    // What was stored before this connection drains beside the live readings, tagged as replay.
    const std::size_t backlog = store_.start_backlog();
    pacer_.restart(wall_now());
    if (backlog > 0) {
        const double rate = settings_.batch.replay_rate;
        log::info("{} readings stored before this connection drain as replay{}", backlog,
                  rate > 0 ? fmt::format(" at {:g} readings/s", rate) : std::string());
    }
}

void uplink::on_acknowledged(int mid, int reason_code) {
    auto acked = in_flight_.take(mid, steady_now());
    if (!acked) return;  // a session already given up
    auto& entry = acked->item;
    const double now = wall_now();
    if (latency_ != nullptr)
        latency_->record(std::chrono::duration<double>(acked->latency).count());
    if (reason_code >= 0x80) {
        // Refused, not lost: the batch stays leased and goes again after a pause.
        log::write_limited(log::level::warn, fmt::format("uplink-refused-{}", reason_code),
                           std::chrono::seconds(30),
                           fmt::format("cloud broker refused a publish: {} (reason code 0x{:02x}); "
                                       "it stays queued and is sent again",
                                       puback_reason_name(reason_code), reason_code));
        if (entry.batch) refused_.push_back({std::move(*entry.batch), now + refused_retry_s});
        const std::lock_guard lock(mutex_);
        ++status_.batches_refused;
        return;
    }
    if (!entry.gap_id.empty()) {
        acked_gaps_.push_back(std::move(entry.gap_id));
        return;
    }
    if (!entry.batch) return;
    acked_.emplace_back(std::move(entry.batch->batch_id), entry.batch->readings.size());
}

std::optional<std::string> uplink::watchdog_verdict(
    std::chrono::steady_clock::time_point now) const {
    if (!in_flight_.overdue(now)) return std::nullopt;
    const auto mid = in_flight_.oldest_mid();
    const auto age = std::chrono::duration<double>(*in_flight_.oldest_age(now)).count();
    // Other messages may have been acknowledged since: this one is lost, and the link with it.
    const auto* entry = mid ? in_flight_.find(*mid) : nullptr;
    std::string what = entry != nullptr ? std::string(entry->what) : "message";
    if (entry != nullptr && entry->batch) what += " " + entry->batch->batch_id;
    return fmt::format(
        "no PUBACK for {} (message id {}) after {:.1f} s (cloud.puback_timeout {:g} s, {} "
        "messages in flight); replacing the connection, it is sent again",
        what, mid.value_or(0), age, settings_.cloud.puback_timeout, in_flight_.size());
}

void uplink::track(int mid, in_flight_entry entry) {
    in_flight_.add(mid, std::move(entry), steady_now());
    note_in_flight();
}

void uplink::note_in_flight() {
    const std::lock_guard lock(mutex_);
    status_.in_flight = in_flight_.size();
    oldest_sent_ = in_flight_.oldest_sent();
}

void uplink::ack_finished() {
    note_in_flight();
    for (const auto& id : acked_gaps_) store_.ack_gaps(id);
    acked_gaps_.clear();
    if (acked_.empty()) return;
    // One store transaction for all PUBACKs of this turn of the loop.
    std::vector<std::string> ids;
    ids.reserve(acked_.size());
    std::uint64_t readings = 0;
    for (const auto& [id, n] : acked_) {
        ids.push_back(id);
        readings += n;
    }
    store_.ack_batches(ids);
    const std::lock_guard lock(mutex_);
    status_.batches_acked += acked_.size();
    status_.readings_acked += readings;
    acked_.clear();
}

bool uplink::send_urgent_one() {
    std::optional<urgent_message> msg;
    {
        const std::lock_guard lock(mutex_);
        msg = urgent_.pop();
    }
    if (!msg) return false;
    const auto mid = session_->publish(msg->topic, msg->payload, msg->retain, false);
    if (!mid) {
        const std::lock_guard lock(mutex_);
        urgent_.push_front(std::move(*msg));
        return false;
    }
    track(*mid, in_flight_entry{std::nullopt, {}, "alert or report"});
    const std::lock_guard lock(mutex_);
    ++status_.urgent_sent;
    return true;
}

bool uplink::send_batch(lease l) {
    std::vector<reading> readings;
    readings.reserve(l.readings.size());
    for (const auto& s : l.readings) readings.push_back(s.r);
    std::string payload =
        encode_batch(batch_view{settings_.gateway_id, l.batch_id, l.created, l.replay, readings,
                                l.ranges, batch_layout_named(settings_.batch.layout)});
    const bool zstd = settings_.cloud.compression == "zstd";
    if (zstd) payload = zstd_compress(payload, settings_.cloud.zstd_level);
    const auto mid = session_->publish(topic("batch"), payload, false, zstd);
    if (!mid) return false;
    const bool replay = l.replay;
    backlog_turn_ = !replay;
    track(*mid, in_flight_entry{std::move(l), {}, "batch"});
    const std::lock_guard lock(mutex_);
    ++status_.batches_sent;
    if (replay) ++status_.replay_batches_sent;
    status_.bytes_sent += payload.size();
    return true;
}

bool uplink::send_gaps(const gap_lease& g) {
    const auto mid =
        session_->publish(topic("gaps"), encode_gap_records(settings_.gateway_id, g), false, false);
    if (!mid) return false;
    track(*mid, in_flight_entry{std::nullopt, g.gap_id, "gap records"});
    return true;
}

// Gap records go before batches: the cloud should learn of a drop as soon as it happens.
void uplink::pump_gaps(double now) {
    while (in_flight_.size() < window()) {
        if (!resend_gaps_.empty()) {
            if (!send_gaps(resend_gaps_.front())) return;
            resend_gaps_.pop_front();
            continue;
        }
        const auto st = store_.stats();
        const bool due = st.gap_records >= gap_batch_records ||
                         (st.oldest_gap && now - *st.oldest_gap >= settings_.batch.max_delay);
        if (st.gap_records == 0 || !due) return;
        auto g = store_.lease_gaps(100, now);
        if (!g) return;
        if (!send_gaps(*g)) {
            resend_gaps_.push_back(std::move(*g));
            return;
        }
    }
}

void uplink::pump(double now) {
    while (in_flight_.size() < window() && send_urgent_one()) {
    }
    pump_gaps(now);
    std::size_t max_bytes = settings_.batch.max_bytes;
    if (maximum_packet_size_ > packet_overhead) {
        max_bytes = std::min<std::size_t>(max_bytes, maximum_packet_size_ - packet_overhead);
    }
    if (!pump_resend(now)) return;
    // A window of one has no slot to keep for the backlog: the lanes take turns when both wait.
    if (window() == 1 && backlog_turn_) {
        pump_backlog(now, max_bytes);
        pump_live(now, max_bytes);
    } else {
        pump_live(now, max_bytes);
        pump_backlog(now, max_bytes);
    }
}

// Batches leased already go first, with their ids. False while some still wait for the window.
bool uplink::pump_resend(double now) {
    while (in_flight_.size() < window()) {
        if (!refused_.empty() && refused_.front().not_before <= now) {
            resend_.push_back(std::move(refused_.front().batch));
            refused_.pop_front();
        }
        if (resend_.empty()) return true;
        if (!send_batch(resend_.front())) return false;
        resend_.pop_front();
    }
    return resend_.empty();
}

// Live batches first, when due; a share of the window stays free for the backlog.
void uplink::pump_live(double now, std::size_t max_bytes) {
    for (;;) {
        const auto st = store_.stats();
        if (in_flight_.size() >= live_window(window(), st.backlog_readings > 0)) return;
        const std::size_t live = st.pending_readings - st.backlog_readings;
        const std::size_t live_bytes =
            st.pending_bytes - std::min(st.pending_bytes, st.backlog_bytes);
        bool due = batch_due(live, live_bytes, st.oldest_live, now, settings_.batch);
        if (!due && st.pending_readings == 0 && st.uncovered) {
            if (coverage_since_ == 0) coverage_since_ = now;
            due = now - coverage_since_ >= coverage_delay_s;
        }
        if (!due) return;
        coverage_since_ = 0;
        auto l = store_.lease_batch(settings_.batch.max_readings, max_bytes, now, lease_lane::live);
        if (!l) return;
        if (!send_batch(*l)) {
            resend_.push_back(std::move(*l));  // leased already: it must go out on this session
            return;
        }
    }
}

// The backlog at its pace, in whatever room the live batches left.
void uplink::pump_backlog(double now, std::size_t max_bytes) {
    while (in_flight_.size() < window() && store_.stats().backlog_readings > 0) {
        const std::size_t allowed = pacer_.allowance(now);
        if (allowed == 0) return;
        auto l = store_.lease_batch(std::min(allowed, settings_.batch.max_readings), max_bytes, now,
                                    lease_lane::backlog);
        if (!l) return;
        pacer_.spend(l->readings.size());
        if (!send_batch(*l)) {
            resend_.push_back(std::move(*l));
            return;
        }
    }
}

}  // namespace fogbridge
