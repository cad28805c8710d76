#include "ingest/local_link.hpp"

#include <mosquitto.h>

#include <chrono>
#include <random>
#include <stdexcept>

#include "common/log.hpp"
#include "common/mosq.hpp"
#include "common/this_thread.hpp"
#include "fogbridge/backoff.hpp"

namespace fogbridge {
namespace {

constexpr const char* device_topics[] = {"devices/+/readings", "devices/+/alerts",
                                         "devices/+/status", "devices/+/health"};

// Messages are handed to the pipeline in runs: one lock and at most one wake-up per run instead
// of per message. A run ends at this many messages, when its first has waited hand_over_after,
// or when no message came within that time.
constexpr std::size_t hand_over_at = 128;
constexpr std::chrono::milliseconds hand_over_after(1);

}  // namespace

local_link::local_link(const endpoint_settings& settings, std::string gateway_id,
                       message_handler on_message)
    : settings_(settings),
      gateway_id_(std::move(gateway_id)),
      status_topic_("gateways/" + gateway_id_ + "/status"),
      handler_(std::move(on_message)) {
    ensure_mosquitto_init();
    // A persistent session (clean_session=false) so the broker queues readings while we are away.
    mosq_ = mosquitto_new(settings_.client_id.c_str(), false, this);
    if (mosq_ == nullptr) throw std::runtime_error("local broker: cannot create an MQTT client");
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(mosq_, &local_link::on_connect);
    mosquitto_disconnect_callback_set(mosq_, &local_link::on_disconnect);
    mosquitto_message_callback_set(mosq_, &local_link::on_message);
    mosquitto_publish_callback_set(mosq_, &local_link::on_publish);
    // Every libmosquitto call on this client happens on the network thread (see outbox_).
    // Acks are many and small: let them all be in flight rather than queue behind 20.
    mosquitto_max_inflight_messages_set(mosq_, 0);
    apply_tls(mosq_, settings_.tls, "local broker", &local_link::on_key_passphrase);
    apply_credentials(mosq_, settings_, "local broker");
    const std::string offline = "offline";
    mosquitto_will_set(mosq_, status_topic_.c_str(), static_cast<int>(offline.size()),
                       offline.data(), 1, true);
}

int local_link::on_key_passphrase(char* buf, int size, int /*rwflag*/, void* client) {
    const auto* self =
        static_cast<const local_link*>(mosquitto_userdata(static_cast<mosquitto*>(client)));
    return self == nullptr ? 0 : copy_passphrase(self->settings_.tls.key_passphrase, buf, size);
}

local_link::~local_link() {
    stop();
    mosquitto_destroy(mosq_);
}

void local_link::start() {
    thread_ = std::thread([this] { run(); });
}

void local_link::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
}

// Our own loop rather than mosquitto_loop_start(): libmosquitto's thread gives up for good on
// some reconnect errors (a TLS error while the broker restarts), and a gateway must not.
void local_link::run() {
    name_this_thread("fb-ingest");
    using namespace std::chrono;
    std::minstd_rand rng(std::random_device{}());
    backoff retry({milliseconds(200), milliseconds(10000), 3.0});
    int rc =
        mosquitto_connect_async(mosq_, settings_.host.c_str(), settings_.port, settings_.keepalive);
    while (!stopping_) {
        send_outbox();
        if (rc == MOSQ_ERR_SUCCESS) {
            // Waiting at most hand_over_after with messages in hand costs no system call while
            // messages flow (the next is already there); polling with no wait would cost one
            // per message whenever the gateway keeps up.
            const std::size_t before = arrived_.size();
            const auto timeout = arrived_.empty() ? loop_timeout() : hand_over_after;
            rc = mosquitto_loop(mosq_, static_cast<int>(timeout.count()), 1);
            const auto now = steady_clock::now();
            if (before == 0) run_started_ = now;
            if (arrived_.size() == before || arrived_.size() >= hand_over_at ||
                now - run_started_ >= hand_over_after)
                hand_over();
        }
        if (rc == MOSQ_ERR_SUCCESS) {
            if (connected_) retry.reset();
            continue;
        }
        connected_ = false;
        hand_over();
        log::write_limited(log::level::warn, "local-down", seconds(30),
                           fmt::format("local broker {}:{}: {}; reconnecting", settings_.host,
                                       settings_.port, mosq_error(rc)));
        const auto until = steady_clock::now() + retry.next(rng);
        while (!stopping_ && steady_clock::now() < until)
            std::this_thread::sleep_for(milliseconds(20));
        if (!stopping_) rc = mosquitto_reconnect_async(mosq_);
    }
    hand_over();
    send_outbox();
    if (connected_) {
        // Wait for the broker to ack "offline" (it acks in order, so everything before it too):
        // closing while devices' messages are still arriving makes the kernel send RST, which
        // discards what the broker had not read yet - the stopping health report among it.
        offline_mid_ = send_now({status_topic_, "offline", 1, true});
        flush(milliseconds(500));
    }
    mosquitto_disconnect(mosq_);
    flush(milliseconds(50));
    connected_ = false;
}

// Writes what is queued (the last acks, the stopping health report, "offline"): one loop pass
// may leave packets behind when the socket buffer is full, and DISCONNECT would then drop them.
void local_link::flush(std::chrono::milliseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    do {
        if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS) return;
    } while ((mosquitto_want_write(mosq_) || (offline_mid_ != 0 && !offline_acked_)) &&
             std::chrono::steady_clock::now() < until);
}

// The loop cannot be woken by another thread's publish, so it waits briefly while publishes
// are flowing (acks after each group commit) and long when the gateway is idle.
std::chrono::milliseconds local_link::loop_timeout() const {
    using namespace std::chrono;
    const auto now_ms = duration_cast<milliseconds>(steady_clock::now().time_since_epoch());
    return now_ms.count() - last_publish_ms_.load() < 1000 ? milliseconds(2) : milliseconds(100);
}

void local_link::hand_over() {
    if (arrived_.empty()) return;
    try {
        handler_(arrived_);
    } catch (const std::exception& e) {
        log::write_limited(log::level::error, "ingest-handler", std::chrono::seconds(10),
                           fmt::format("ingest: {}", e.what()));
    }
    arrived_.clear();
}

void local_link::send_outbox() {
    if (!outbox_filled_.load(std::memory_order_acquire)) return;
    std::vector<outgoing> batch;
    {
        const std::lock_guard lock(outbox_mutex_);
        batch.swap(outbox_);
        outbox_filled_.store(false, std::memory_order_relaxed);
    }
    for (const outgoing& m : batch) send_now(m);
}

int local_link::send_now(const outgoing& m) {
    int mid = 0;
    const int rc =
        mosquitto_publish(mosq_, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()),
                          m.payload.data(), m.qos, m.retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        log::write_limited(
            log::level::warn, "local-publish", std::chrono::seconds(10),
            fmt::format("local broker: publish on {} failed: {}", m.topic, mosq_error(rc)));
        return 0;
    }
    return mid;
}

bool local_link::publish(const std::string& topic, std::string_view payload, int qos, bool retain) {
    using namespace std::chrono;
    {
        const std::lock_guard lock(outbox_mutex_);
        outbox_.push_back({topic, std::string(payload), qos, retain});
        outbox_filled_.store(true, std::memory_order_release);
    }
    last_publish_ms_ = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
    return true;
}

void local_link::on_connect(mosquitto* m, void* self, int rc) {
    auto* link = static_cast<local_link*>(self);
    if (rc != 0) {
        log::write_limited(
            log::level::error, "local-connect", std::chrono::seconds(30),
            fmt::format("local broker {}:{} refused the connection: {}", link->settings_.host,
                        link->settings_.port, mosquitto_connack_string(rc)));
        return;
    }
    log::info("local broker {}:{}: connected", link->settings_.host, link->settings_.port);
    for (const char* t : device_topics) mosquitto_subscribe(m, nullptr, t, 1);
    link->connected_ = true;
    link->send_now({link->status_topic_, "online", 1, true});
}

void local_link::on_publish(mosquitto* /*m*/, void* self, int mid) {
    auto* link = static_cast<local_link*>(self);
    if (mid == link->offline_mid_) link->offline_acked_ = true;
}

void local_link::on_disconnect(mosquitto* /*m*/, void* self, int /*rc*/) {
    static_cast<local_link*>(self)->connected_ = false;
}

void local_link::on_message(mosquitto* /*m*/, void* self, const mosquitto_message* msg) {
    auto* link = static_cast<local_link*>(self);
    try {
        link->arrived_.push_back(
            {msg->topic, std::string(static_cast<const char*>(msg->payload),
                                     static_cast<std::size_t>(msg->payloadlen))});
    } catch (const std::exception& e) {
        // No exception may cross into libmosquitto's C code.
        log::write_limited(log::level::error, "ingest-handler", std::chrono::seconds(10),
                           fmt::format("ingest: {}", e.what()));
    }
}

}  // namespace fogbridge
