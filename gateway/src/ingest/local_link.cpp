#include "ingest/local_link.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"
#include "common/this_thread.hpp"
#include "common/tls_context.hpp"
#include "fogbridge/backoff.hpp"

namespace fogbridge {
namespace {

using namespace std::chrono;

// Messages are handed to the pipeline in runs: one lock and at most one wake-up per run instead
// of per message. A run ends at this many messages, when its first has waited hand_over_after,
// or when no message came within that time.
constexpr std::size_t hand_over_at = 128;
constexpr milliseconds hand_over_after(1);
constexpr milliseconds connect_timeout(10000);
// Under live load the broker sends a message or two per wake-up; pausing briefly after such a
// small read lets the next ones gather, so that one poll, read and write serve many (live flat
// out: 1.05-1.11 s of gateway CPU per 100k readings against 1.25-1.33 without, p50 unchanged).
constexpr std::size_t coalesce_below = 16;
constexpr microseconds coalesce_pause(300);
constexpr std::size_t read_size = std::size_t{64} * 1024;

// The certificate's subject as RFC 2253 ("CN=gw-01"): what the shipped local broker makes the
// client id of a service (use_subject_as_username + use_username_as_clientid), so the id the
// gateway asks for is the one the broker gives it.
std::string certificate_subject(const std::string& cert_file) {
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(cert_file.c_str(), "r"), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
    if (!cert || !out ||
        X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253) <= 0) {
        throw std::runtime_error(fmt::format(
            "local broker: cannot read the subject of {} for the client id", cert_file));
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(out.get(), &data);
    return {data, static_cast<std::size_t>(n)};
}

mqtt_session::settings session_settings(const endpoint_settings& e, const std::string& status) {
    mqtt_session::settings s;
    // A persistent session (clean_session=false) so the broker queues readings while we are away.
    s.connect.client_id = !e.client_id.empty()       ? e.client_id
                          : !e.tls.cert_file.empty() ? certificate_subject(e.tls.cert_file)
                                                     : std::string();
    s.connect.clean_session = false;
    s.connect.keepalive = e.keepalive;
    s.connect.username = e.username;
    s.connect.password = e.password;
    s.connect.will_topic = status;
    s.connect.will_payload = "offline";
    s.subscriptions = {"devices/+/readings", "devices/+/alerts", "devices/+/status",
                       "devices/+/health",
                       // Its own retained acks, read back after a restart (processor::on_ack).
                       "devices/+/ack"};
    s.connack_timeout = connect_timeout;
    s.max_packet_bytes = e.max_packet_bytes;
    return s;
}

void signal_eventfd(int fd) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(fd, &one, sizeof one);
}

std::unique_ptr<tls_context> make_tls(const endpoint_settings& e) {
    if (e.tls.ca_file.empty()) return nullptr;
    try {
        return std::make_unique<tls_context>(e.tls, e.host, 0);
    } catch (const std::exception& ex) {
        throw std::runtime_error(fmt::format("local broker: {}", ex.what()));
    }
}

}  // namespace

local_link::local_link(endpoint_settings settings, std::string gateway_id,
                       message_handler on_message)
    : settings_(std::move(settings)),
      gateway_id_(std::move(gateway_id)),
      status_topic_("gateways/" + gateway_id_ + "/status"),
      handler_(std::move(on_message)),
      tls_(make_tls(settings_)),
      tls_stamp_(tls_ ? credential_stamp(settings_.tls) : std::string()),
      session_(session_settings(settings_, status_topic_)),
      in_(read_size) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0 || stop_fd_ < 0) {
        if (wake_fd_ >= 0) ::close(wake_fd_);
        if (stop_fd_ >= 0) ::close(stop_fd_);
        throw std::runtime_error("local broker: cannot create an eventfd");
    }
}

local_link::~local_link() {
    stop();
    ::close(wake_fd_);
    ::close(stop_fd_);
}

void local_link::start() {
    thread_ = std::thread([this] { run(); });
}

void local_link::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    signal_eventfd(stop_fd_);
    thread_.join();
}

void local_link::publish(const std::string& topic, std::string_view payload,
                         publish_options options) {
    bool was_empty = false;
    {
        const std::lock_guard lock(outbox_mutex_);
        was_empty = outbox_.empty();
        outbox_.push_back({topic, std::string(payload), options});
    }
    if (was_empty) signal_eventfd(wake_fd_);
}

void local_link::clear_wake() const {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto n = ::read(wake_fd_, &count, sizeof count);
}

// Reconnects for ever, with jittered backoff: a gateway must not give up on its local broker.
void local_link::run() {
    name_this_thread("fb-ingest");
    std::minstd_rand rng(std::random_device{}());
    backoff retry({milliseconds(200), milliseconds(10000), 3.0});
    while (!stopping_) {
        beat();
        net_error why;
        try {
            why = serve();
        } catch (const std::exception& e) {  // out of memory, an unsendable publish
            why = {net_errc::connection_lost, e.what()};
        }
        connected_ = false;
        // Only a connection that got its subscriptions and ended without a protocol error resets
        // the backoff: a broker that refuses them, or re-sends a packet we refuse, is not
        // hammered every 200 ms.
        const bool was_subscribed = subscribed_.exchange(false);
        hand_over();
        session_.closed();
        socket_.close();
        if (stopping_) break;
        if (was_subscribed && !why.is(net_errc::protocol_violation) &&
            !why.is(net_errc::subscription_refused)) {
            retry.reset();
        }
        note_end(why);
        wait_for(duration_cast<milliseconds>(retry.next(rng)));
    }
}

void local_link::note_end(const net_error& why) {
    const std::string text = why.text();
    {
        const std::lock_guard lock(status_mutex_);
        last_error_ = {.code = why.code(), .text = text};
    }
    const auto line =
        fmt::format("local broker {}:{}: {}; reconnecting", settings_.host, settings_.port, text);
    if (why.is(net_errc::protocol_violation)) {
        ++protocol_errors_;
        return log::write_limited(log::level::error, "local-protocol", seconds(30), line);
    }
    if (why.is(net_errc::subscription_refused)) {
        ++subscription_refused_;
        refused_ = true;
        return log::write_limited(log::level::error, "local-refused", seconds(30), line);
    }
    log::write_limited(log::level::warn, "local-down", seconds(30), line);
}

local_link_status local_link::status() const {
    local_link_status s;
    s.connected = connected_;
    s.subscribed = subscribed_;
    s.connects = connects_;
    s.protocol_errors = protocol_errors_;
    s.subscription_refused = subscription_refused_;
    s.refused = refused_;
    s.last_loop = steady_clock::time_point(steady_clock::duration(last_loop_.load()));
    const std::lock_guard lock(status_mutex_);
    s.last_error = last_error_;
    return s;
}

// One connection, from connect to its loss (the reason) or to stopping (no error).
net_error local_link::serve() {
    credentials_rotated();  // new files fix a connection the old ones could not make
    if (tls_) tls_->clear_verify_error();
    const net_error problem =
        socket_.open(settings_.host, settings_.port, tls_ ? tls_->native() : nullptr,
                     steady_clock::now() + connect_timeout, stop_fd_);
    if (stopping_) return {};
    if (problem) return connect_problem(problem);
    session_.open(steady_clock::now());
    in_used_ = 0;
    while (!stopping_) {
        beat();
        if (credentials_rotated()) {
            // DISCONNECT first, so the broker keeps the session and does not send our will.
            hand_over();
            session_.disconnect();
            write_pending();
            return net_errc::credentials_rotated;
        }
        take_outbox();
        if (auto late = session_.tick(steady_clock::now())) return late;
        if (auto why = write_pending()) return why;
        const bool want_out = (!session_.output().empty() && !socket_.write_wants_read()) ||
                              socket_.read_wants_write();
        std::array<pollfd, 3> fds{
            {{socket_.fd(), static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0},
             {wake_fd_, POLLIN, 0},
             {stop_fd_, POLLIN, 0}}};
        const int timeout = socket_.pending() ? 0 : poll_timeout();
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
            return {net_errc::connection_lost, std::strerror(errno)};
        }
        if ((fds[1].revents & POLLIN) != 0) clear_wake();
        const std::size_t before = arrived_.size();
        if (fds[0].revents != 0 || socket_.pending()) {
            if (auto why = read_available(&arrived_)) return why;
        }
        const auto now = steady_clock::now();
        if (before == 0) run_started_ = now;
        if (arrived_.size() == before || arrived_.size() >= hand_over_at ||
            now - run_started_ >= hand_over_after) {
            hand_over();
        }
        if (const auto got = arrived_.size() - before; got > 0 && got < coalesce_below) {
            if (auto why = write_pending()) return why;
            std::this_thread::sleep_for(coalesce_pause);
        }
    }
    goodbye();
    return {};
}

// Waits a little while a run of messages is being gathered, otherwise until the keepalive needs
// a ping; publish() and stop() interrupt it.
int local_link::poll_timeout() const {
    const auto now = steady_clock::now();
    if (!arrived_.empty()) {
        const auto left = duration_cast<milliseconds>(run_started_ + hand_over_after - now);
        return static_cast<int>(std::max<milliseconds::rep>(left.count(), 0));
    }
    const auto tick = duration_cast<milliseconds>(session_.until_tick(now)) + milliseconds(1);
    return static_cast<int>(std::clamp<milliseconds::rep>(tick.count(), 0, 1000));
}

// Reads what the broker has sent (one read; TLS may hold more decrypted) and feeds it to the
// session, which acknowledges each message.
net_error local_link::read_available(std::vector<inbound_message>* arrived) {
    do {
        if (in_used_ == in_.size()) in_.resize(in_.size() * 2);  // a packet larger than in_
        const auto r = socket_.read(in_.data() + in_used_, in_.size() - in_used_);
        if (r.error) return r.error;
        in_used_ += r.bytes;
        const mqtt_session::fed fed =
            session_.feed(std::string_view(in_.data(), in_used_), steady_clock::now(), arrived);
        if (fed.error) return fed.error;
        std::memmove(in_.data(), in_.data() + fed.used, in_used_ - fed.used);
        in_used_ -= fed.used;
        if (in_.size() > read_size && in_used_ <= read_size) {
            in_.resize(read_size);  // the large packet is through
            in_.shrink_to_fit();
        }
        after_feed(fed);
    } while (socket_.pending());
    return {};
}

void local_link::after_feed(const mqtt_session::fed& fed) {
    if (fed.connected) {
        log::info("local broker {}:{}: connected", settings_.host, settings_.port);
        connected_ = true;
        session_.publish(status_topic_, "online",
                         {.qos = qos::at_least_once, .retain = retain::yes});
    }
    if (fed.connected) ++connects_;
    if (fed.subscribed) {
        subscribed_ = true;
        refused_ = false;
        log::info("local broker {}:{}: subscribed", settings_.host, settings_.port);
    }
}

net_error local_link::write_pending() {
    while (!session_.output().empty()) {
        const auto& out = session_.output();
        const auto r = socket_.write(out.data(), out.size());
        if (r.error) return r.error;
        if (r.bytes == 0) return {};  // the socket is full: poll says when to go on
        session_.sent(r.bytes, steady_clock::now());
    }
    return {};
}

void local_link::take_outbox() {
    std::vector<outgoing> batch;
    {
        const std::lock_guard lock(outbox_mutex_);
        if (outbox_.empty()) return;
        batch.swap(outbox_);
    }
    const auto dropped = session_.dropped();
    for (outgoing& m : batch) session_.publish(std::move(m.topic), std::move(m.payload), m.options);
    if (session_.dropped() > dropped) {
        log::write_limited(log::level::warn, "local-pending", seconds(60),
                           fmt::format("local broker: {} publishes dropped in all, oldest first: "
                                       "more than {} waiting for the broker",
                                       session_.dropped(), mqtt_session::max_pending));
    }
}

void local_link::hand_over() {
    if (arrived_.empty()) return;
    try {
        handler_(arrived_);
    } catch (const std::exception& e) {
        log::write_limited(log::level::error, "ingest-handler", seconds(10),
                           fmt::format("ingest: {}", e.what()));
    }
    arrived_.clear();
}

// Says offline and waits for the broker's PUBACK (it acks in order, so everything before it
// too): closing while devices' messages are still arriving makes the kernel send RST, which
// discards what the broker had not read yet - the stopping health report among it. Messages
// that arrive meanwhile are not acknowledged, so the broker keeps them for the next session.
void local_link::goodbye() {
    hand_over();
    take_outbox();
    if (!session_.connected()) return;
    const std::uint16_t offline = session_.publish(
        status_topic_, "offline", {.qos = qos::at_least_once, .retain = retain::yes});
    const auto until = steady_clock::now() + milliseconds(500);
    while (!session_.acknowledged(offline) && steady_clock::now() < until) {
        if (write_pending()) return;
        if (wait_ready(socket_.fd(), POLLIN, until, -1) && read_available(nullptr)) return;
    }
    session_.disconnect();
    const auto flush_until = steady_clock::now() + milliseconds(50);
    while (!write_pending() && !session_.output().empty() &&
           wait_ready(socket_.fd(), POLLOUT, flush_until, -1)) {
    }
}

void local_link::wait_for(milliseconds delay) {
    const auto until = steady_clock::now() + delay;
    while (!stopping_ && steady_clock::now() < until) {
        beat();
        wait_ready(stop_fd_, POLLIN, std::min(until, steady_clock::now() + seconds(1)), -1);
    }
}

void local_link::reload_credentials() {
    reload_requested_ = true;
    signal_eventfd(wake_fd_);
}

// Like the uplink: the files' stamps are checked every few seconds (and on SIGHUP); a new set
// that fails any start-up check is refused and the current one kept.
bool local_link::credentials_rotated() {
    constexpr seconds check_interval(2);
    const auto now = steady_clock::now();
    const bool forced = reload_requested_.exchange(false);
    if (!tls_ || (!forced && now - tls_checked_ < check_interval)) return false;
    tls_checked_ = now;
    const auto stamp = credential_stamp(settings_.tls);
    if (!forced && stamp == tls_stamp_) return false;
    tls_stamp_ = stamp;
    try {
        auto fresh = std::make_unique<tls_context>(settings_.tls, settings_.host, 0);
        if (const auto& why = fresh->chain_problem()) throw std::runtime_error(why.text());
        tls_ = std::move(fresh);
    } catch (const std::exception& e) {
        log::error(
            "local broker: certificate rotation refused, keeping the current credentials: {}",
            e.what());
        return false;
    }
    log::info("local broker: certificate rotation: new credentials checked; reconnecting");
    return true;
}

net_error local_link::connect_problem(const net_error& why) const {
    if (tls_ && !tls_->last_verify_error().empty()) {
        return {net_errc::tls_handshake, "TLS handshake failed: " + tls_->last_verify_error()};
    }
    return why.prefixed("cannot connect: ");
}

}  // namespace fogbridge
