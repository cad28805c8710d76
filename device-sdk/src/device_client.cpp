#include "fogbridge/device_client.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <stdexcept>

#include "fogbridge/boot.hpp"

namespace fogbridge {
namespace {

// The portable core's backoff, the boards' own; its multiplier is a whole number.
core::backoff_settings core_backoff(const backoff_settings& s) {
    const auto ms = [](std::chrono::milliseconds d) {
        return static_cast<std::uint32_t>(std::clamp<std::int64_t>(d.count(), 1, 0xFFFFFFFF));
    };
    return core::backoff_settings{
        ms(s.initial), ms(s.max),
        static_cast<std::uint32_t>(std::clamp(std::llround(s.multiplier), 1LL, 1000LL))};
}

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void bad_setting(const std::string& what) {
    throw std::runtime_error("device settings: " + what);
}

void require_readable(const std::string& path, const char* what) {
    if (!std::ifstream(path).good()) {
        bad_setting(std::string(what) + " " + path + " is not readable");
    }
}

device_settings validated(device_settings s) {
    if (!valid_device_id(s.device_id)) {
        bad_setting("device id '" + s.device_id + "' must be 1-64 characters of [A-Za-z0-9_.-]");
    }
    if (s.host.empty()) {
        bad_setting("host is empty");
    }
    if (s.port < 1 || s.port > 65535) {
        bad_setting("port " + std::to_string(s.port) + " is out of range");
    }
    if (s.keepalive < std::chrono::seconds{5}) {
        bad_setting("keepalive must be at least 5 s");
    }
    if (s.buffer_capacity == 0 || s.max_in_flight == 0 || s.max_readings_per_message == 0) {
        bad_setting("buffer capacity, in-flight window and readings per message must be > 0");
    }
    if (s.max_message_bytes < 1024) {
        bad_setting("max_message_bytes must be at least 1024 (one reading always fits)");
    }
    const bool has_cert = !s.tls.cert_file.empty();
    const bool has_key = !s.tls.key_file.empty();
    if (has_cert != has_key) {
        bad_setting("a client certificate needs its key and a key its certificate");
    }
    if ((has_cert || has_key) && !s.tls.enabled()) {
        bad_setting("a client certificate needs a CA file to verify the broker");
    }
    if (s.tls.enabled()) {
        require_readable(s.tls.ca_file, "CA file");
        if (has_cert) {
            require_readable(s.tls.cert_file, "certificate file");
            require_readable(s.tls.key_file, "key file");
        }
    }
    return s;
}

std::unique_ptr<reading_buffer> make_buffer(const device_settings& s, std::uint64_t boot) {
    auto buffer = s.make_buffer ? s.make_buffer(s.buffer_capacity) : nullptr;
    if (!buffer) {
        return std::make_unique<memory_buffer>(s.buffer_capacity);
    }
    for (const auto& run : buffer->runs()) {
        if (run.boot == boot) {
            bad_setting("the reading buffer already holds readings of boot " +
                        std::to_string(boot) + ", the boot of this start (was the boot file " +
                        "reset or copied?)");
        }
    }
    return buffer;
}

std::string describe_runs(const std::vector<buffered_run>& runs) {
    std::string out;
    for (const auto& r : runs) {
        out += (out.empty() ? "" : ", ") + std::string("boot ") + std::to_string(r.boot) + " seq " +
               std::to_string(r.first_seq) + ".." + std::to_string(r.last_seq);
    }
    return out;
}

double now_seconds() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration<double>(since_epoch).count();
}

// Seconds since the board booted: steady_clock is CLOCK_MONOTONIC on Linux, which starts at boot.
double seconds_since_boot() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

class device_client::events_adapter final : public mqtt_transport_events {
  public:
    explicit events_adapter(device_client& client) : client_(client) {}
    void on_connect(bool accepted, std::string_view reason) override {
        client_.handle_connect(accepted, reason);
    }
    void on_message(const incoming_message& m) override {
        if (m.topic == client_.topics_.ack) {
            client_.handle_ack(m.payload);
        }
    }
    void on_published(int message_id) override { client_.handle_published(message_id); }

  private:
    device_client& client_;
};

device_client::device_client(device_settings settings, std::unique_ptr<mqtt_transport> transport)
    : settings_(validated(std::move(settings))),
      boot_(settings_.boot_file.empty() ? random_boot() : next_boot_from_file(settings_.boot_file)),
      topics_(topics_for(settings_.device_id)),
      transport_(transport ? std::move(transport) : make_core_transport()),
      events_(std::make_unique<events_adapter>(*this)),
      session_(delivery_settings{settings_.device_id, settings_.max_in_flight,
                                 settings_.resend_timeout, settings_.max_readings_per_message,
                                 settings_.max_pending_alerts, settings_.max_message_bytes},
               boot_, make_buffer(settings_, boot_)),
      backoff_(core_backoff(settings_.reconnect)),
      rng_(std::random_device{}()) {
    connect_options_.client_id = settings_.device_id;
    connect_options_.host = settings_.host;
    connect_options_.port = settings_.port;
    connect_options_.tls = settings_.tls;
    connect_options_.keepalive = settings_.keepalive;
    connect_options_.will = mqtt_message{topics_.status, "offline", 1, true};
    transport_->set_events(events_.get());
    if (session_.counters().recovered > 0) {
        log(std::to_string(session_.counters().recovered) +
            " unacknowledged readings of earlier boots in the buffer (" +
            describe_runs(session_.buffer_runs()) + "); they go out first");
    }
}

device_client::~device_client() { stop(); }

void device_client::start() {
    if (stopped_.load() || started_.exchange(true)) {
        return;
    }
    thread_ = std::thread([this] { run(); });
}

publish_result device_client::publish(std::string_view sensor, double value, std::string_view unit,
                                      std::optional<double> ts) {
    const double when = ts.value_or(now_seconds());
    std::vector<std::pair<alert_event, alert_callback>> fired;
    publish_result result = publish_result::invalid;
    bool log_full = false;
    bool log_room = false;
    {
        std::lock_guard lock(mutex_);
        result = session_.accept(sensor, value, unit, when, seconds_since_boot());
        if (result != publish_result::invalid) {
            for (auto& event : alerts_.evaluate(sensor, value, when)) {
                session_.enqueue_alert(event);
                fired.emplace_back(event, callbacks_[event.rule]);
            }
        }
        if (result == publish_result::buffer_full && !buffer_full_logged_) {
            buffer_full_logged_ = log_full = true;
        } else if (result == publish_result::queued && buffer_full_logged_) {
            buffer_full_logged_ = false;
            log_room = true;
        }
    }
    if (result == publish_result::queued || !fired.empty()) {
        transport_->wake();
    }
    if (result == publish_result::queued) {
        changed_.notify_all();  // an idle network thread re-reads the buffer's fsync deadline
    }
    if (log_full) {
        log("buffer full (" + std::to_string(settings_.buffer_capacity) +
            " unacknowledged readings): refusing readings until acks arrive");
    }
    if (log_room) {
        log("buffer has room again");
    }
    for (const auto& [event, callback] : fired) {
        if (callback) {
            callback(event);
        }
    }
    return result;
}

std::size_t device_client::add_alert_rule(alert_rule rule, alert_callback callback) {
    std::lock_guard lock(mutex_);
    const std::size_t index = alerts_.add(std::move(rule));
    callbacks_.push_back(std::move(callback));
    return index;
}

bool device_client::publish_health(std::string json) {
    bool queued = false;
    {
        std::lock_guard lock(mutex_);
        queued = session_.enqueue_health(std::move(json));
    }
    if (queued) {
        transport_->wake();
    }
    return queued;
}

std::size_t device_client::buffered() const {
    std::lock_guard lock(mutex_);
    return session_.buffered();
}

device_counters device_client::counters() const {
    std::lock_guard lock(mutex_);
    const auto& c = session_.counters();
    return device_counters{c.published,      c.acked,        c.buffer_full, c.invalid,
                           c.sent,           c.resent,       reconnects_,   c.alerts,
                           c.alerts_dropped, c.ignored_acks, c.recovered};
}

bool device_client::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return session_.buffered() == 0; });
}

void device_client::stop() {
    if (stopped_.exchange(true)) {
        return;
    }
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
    }
    changed_.notify_all();
    transport_->wake();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void device_client::run() {
    while (true) {
        {
            std::unique_lock lock(mutex_);
            if (stop_requested_) {
                break;
            }
            session_.sync_storage(steady::now());
            if (link_ == link_state::idle && steady::now() < next_attempt_) {
                auto until = next_attempt_;
                if (const auto sync_at = session_.storage_deadline()) {
                    until = std::min(until, *sync_at);
                }
                // publish() notifies as well: a new reading may bring the fsync deadline forward.
                changed_.wait_until(lock, until);
                continue;
            }
        }
        auto now = steady::now();
        if (link_ == link_state::idle) {
            start_attempt(now);
            continue;
        }
        const bool alive = transport_->run_once(wait_budget(now));
        now = steady::now();
        if (!alive) {
            std::string why = link_ == link_state::connected ? "connection lost" : "connect failed";
            if (const auto detail = transport_->last_error(); !detail.empty()) {
                why += ": " + detail;
            }
            connection_failed(now, why);
        } else if (link_ == link_state::connecting &&
                   now - attempt_started_ >= settings_.connect_timeout) {
            connection_failed(now, "connect timed out");
        } else if (link_ == link_state::connected) {
            if (just_connected_) {
                after_connect(now);
            }
            report_health(now);
            pump(now);
        }
    }
    publish_offline_and_disconnect();
}

void device_client::start_attempt(steady::time_point now) {
    pending_ids_.clear();  // a new connection drops whatever the transport held
    const std::string error = transport_->connect(connect_options_);
    if (!error.empty()) {
        connection_failed(now, "connect failed: " + error);
        return;
    }
    link_ = link_state::connecting;
    attempt_started_ = now;
}

void device_client::connection_failed(steady::time_point now, const std::string& why) {
    if (link_ == link_state::connected) {
        std::lock_guard lock(mutex_);
        session_.on_disconnected();
    }
    link_ = link_state::idle;
    just_connected_ = false;
    connected_ = false;
    const std::chrono::milliseconds delay{backoff_.next(static_cast<std::uint32_t>(rng_()))};
    next_attempt_ = now + delay;
    log(why + " (" + settings_.host + ":" + std::to_string(settings_.port) + "); retrying in " +
        std::to_string(delay.count()) + " ms");
}

void device_client::handle_connect(bool accepted, std::string_view reason) {
    if (!accepted) {
        log("broker refused the connection: " + std::string(reason));
        return;
    }
    // The rest waits for after_connect(): no library calls from inside its callbacks.
    link_ = link_state::connected;
    just_connected_ = true;
}

void device_client::after_connect(steady::time_point now) {
    just_connected_ = false;
    backoff_.reset();
    transport_->subscribe(topics_.ack, 1);
    if (const auto id = transport_->publish(mqtt_message{topics_.status, "online", 1, true})) {
        pending_ids_.push_back(*id);
    }
    std::size_t buffered = 0;
    {
        std::lock_guard lock(mutex_);
        session_.on_connected(now);
        if (ever_connected_) {
            ++reconnects_;
        }
        buffered = session_.buffered();
    }
    ever_connected_ = true;
    connected_ = true;
    next_health_ = now;
    log("connected to " + settings_.host + ":" + std::to_string(settings_.port) + " as " +
        settings_.device_id + " (boot " + std::to_string(boot_) + ", " + std::to_string(buffered) +
        " readings to send)");
}

void device_client::handle_ack(std::string_view payload) {
    ack_result result = ack_result::malformed;
    {
        std::lock_guard lock(mutex_);
        result = session_.on_ack_payload(payload, steady::now());
    }
    if (result == ack_result::progress) {
        changed_.notify_all();
    } else if (result == ack_result::malformed) {
        log("ignoring a malformed ack: " + std::string(payload.substr(0, 200)));
    }
}

void device_client::handle_published(int message_id) {
    const auto it = std::find(pending_ids_.begin(), pending_ids_.end(), message_id);
    if (it != pending_ids_.end()) {
        pending_ids_.erase(it);
    }
}

void device_client::pump(steady::time_point now) {
    if (pending_ids_.size() >= settings_.max_in_flight) {
        return;  // the transport already holds a full window
    }
    std::vector<outgoing_message> batch;
    {
        std::lock_guard lock(mutex_);
        batch = session_.take_sendable(now, settings_.max_in_flight - pending_ids_.size());
    }
    for (auto& m : batch) {
        const int qos = m.qos;
        const auto id = transport_->publish(
            mqtt_message{std::move(m.topic), std::move(m.payload), qos, m.retain});
        if (!id) {
            // What was taken counts as in flight; the resend timeout sends it again.
            log("the MQTT client refused a message; it will be re-sent");
            break;
        }
        if (qos > 0) {
            pending_ids_.push_back(*id);
        }
    }
}

milliseconds device_client::wait_budget(steady::time_point now) const {
    milliseconds budget{link_ == link_state::connected ? 250 : 50};
    std::optional<steady::time_point> deadline;
    std::optional<steady::time_point> sync_at;
    {
        std::lock_guard lock(mutex_);
        deadline = session_.next_deadline();
        sync_at = session_.storage_deadline();
    }
    if (sync_at) {
        budget =
            std::clamp(std::chrono::ceil<milliseconds>(*sync_at - now), milliseconds{0}, budget);
    }
    // While the transport holds a full window pump() cannot act on the deadline: PUBACKs wake us.
    if (deadline && pending_ids_.size() < settings_.max_in_flight) {
        const auto left = std::chrono::ceil<milliseconds>(*deadline - now);
        budget = std::clamp(left, milliseconds{0}, budget);
    }
    return budget;
}

void device_client::report_health(steady::time_point now) {
    if (settings_.health_interval <= milliseconds{0} || now < next_health_) {
        return;
    }
    next_health_ = now + settings_.health_interval;
    device_health_report h;
    h.ts = now_seconds();
    h.boot = boot_;
    h.uptime_s = std::chrono::duration<double>(now - created_).count();
    h.buffer_capacity = settings_.buffer_capacity;
    if (settings_.read_board_health) {
        try {
            h.board = settings_.read_board_health();
        } catch (const std::exception& e) {
            log(std::string("board health: ") + e.what());  // the report goes without it
        } catch (...) {
            log("board health: unknown exception");
        }
    }
    std::lock_guard lock(mutex_);
    h.buffered = session_.buffered();
    h.reconnects = reconnects_;
    session_.enqueue_health(encode_device_health(h));
}

void device_client::publish_offline_and_disconnect() {
    if (link_ == link_state::connected) {
        const auto id = transport_->publish(mqtt_message{topics_.status, "offline", 1, true});
        if (id) {
            pending_ids_.push_back(*id);
        }
        const auto give_up = steady::now() + std::chrono::seconds{1};
        while (id &&
               std::find(pending_ids_.begin(), pending_ids_.end(), *id) != pending_ids_.end() &&
               steady::now() < give_up) {
            if (!transport_->run_once(milliseconds{50})) {
                break;
            }
        }
        transport_->disconnect();
        const auto closed_by = steady::now() + milliseconds{500};
        while (steady::now() < closed_by && transport_->run_once(milliseconds{20})) {
        }
        std::lock_guard lock(mutex_);
        session_.on_disconnected();
    }
    link_ = link_state::idle;
    connected_ = false;
    log("stopped");
}

void device_client::log(std::string_view line) const {
    if (settings_.log) {
        settings_.log(line);
    }
}

}  // namespace fogbridge
