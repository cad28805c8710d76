// The gateway's client on the local broker: a persistent QoS 1 session on the device topics, and
// the publisher of acks, rejects and status there. Thread-safe; the message handler runs on its
// network thread.
//
// Our own MQTT 3.1.1 client (mqtt_session, stream_socket) rather than libmosquitto: libmosquitto
// reads a packet in three system calls and wakes its loop through a socket pair on every PUBACK
// it queues, seven system calls per message in all; here one read takes every message the
// broker has sent and one write acknowledges them. Ingest shares the machine with the broker,
// and its CPU is the broker's. The process must ignore SIGPIPE (OpenSSL writes to the socket
// without MSG_NOSIGNAL); main() does.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/endpoint.hpp"
#include "common/net_error.hpp"
#include "common/publish_options.hpp"
#include "common/status_error.hpp"
#include "ingest/mqtt_session.hpp"
#include "ingest/stream_socket.hpp"

namespace fogbridge {

class tls_context;

// What the link went through, for /metrics and /healthz.
struct local_link_status {
    bool connected = false;   // CONNACK accepted
    bool subscribed = false;  // and the SUBACK granted every subscription
    std::uint64_t connects = 0;
    std::uint64_t protocol_errors = 0;       // connections the broker's packets broke
    std::uint64_t subscription_refused = 0;  // connections whose SUBACK refused (or gave QoS 0)
    bool refused = false;     // the last connection ended on a refused subscription, none since
    status_error last_error;  // why the last connection ended (a net_errc); empty before
    // When the network thread last went round its loop (it does at least every second, and
    // every second while waiting to reconnect; a connect attempt takes 10 s at most).
    std::chrono::steady_clock::time_point last_loop;
};

class local_link final {
  public:
    // Gets the messages that arrived since the last call, in order; may move them out.
    using message_handler = std::function<void(std::vector<inbound_message>&)>;

    // Throws std::runtime_error with one line when the TLS files cannot be used.
    local_link(endpoint_settings settings, std::string gateway_id, message_handler on_message);
    ~local_link();
    local_link(const local_link&) = delete;
    local_link& operator=(const local_link&) = delete;

    // Starts the network thread, which connects and reconnects with jittered backoff.
    void start();
    // Publishes `offline`, disconnects and joins the network thread.
    void stop();

    // Queues a publish for the network thread; safe from any thread. QoS 1 waits for a
    // connection, QoS 0 is dropped while there is none.
    void publish(const std::string& topic, std::string_view payload, publish_options options);
    bool connected() const { return connected_; }
    // Reads the TLS files again now (SIGHUP) instead of at the next check of their stamps.
    void reload_credentials();
    local_link_status status() const;

  private:
    struct outgoing {
        std::string topic;
        std::string payload;
        publish_options options;
    };

    void run();
    net_error serve();
    void note_end(const net_error& why);
    void beat() { last_loop_ = std::chrono::steady_clock::now().time_since_epoch().count(); }
    net_error read_available(std::vector<inbound_message>* arrived);
    void after_feed(const mqtt_session::fed& fed);
    net_error write_pending();
    void take_outbox();
    void hand_over();
    void goodbye();
    void wait_for(std::chrono::milliseconds delay);
    void clear_wake() const;
    int poll_timeout() const;
    net_error connect_problem(const net_error& why) const;
    bool credentials_rotated();

    endpoint_settings settings_;
    std::string gateway_id_;
    std::string status_topic_;
    message_handler handler_;
    std::unique_ptr<tls_context> tls_;  // network thread only, once started
    std::string tls_stamp_;             // the files tls_ was built from
    std::chrono::steady_clock::time_point tls_checked_;
    std::atomic<bool> reload_requested_{false};
    mqtt_session session_;  // network thread only
    stream_socket socket_;  // network thread only
    std::vector<char> in_;  // bytes read, not yet a whole packet
    std::size_t in_used_ = 0;
    std::vector<inbound_message> arrived_;               // network thread only
    std::chrono::steady_clock::time_point run_started_;  // when arrived_ got its first
    int wake_fd_ = -1;  // eventfds: publish() and stop() interrupt the network thread's poll
    int stop_fd_ = -1;
    std::atomic<bool> connected_{false};
    std::atomic<bool> subscribed_{false};
    std::atomic<bool> refused_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<std::chrono::steady_clock::rep> last_loop_{0};
    std::atomic<std::uint64_t> connects_{0};
    std::atomic<std::uint64_t> protocol_errors_{0};
    std::atomic<std::uint64_t> subscription_refused_{0};
    mutable std::mutex status_mutex_;
    status_error last_error_;
    std::mutex outbox_mutex_;
    std::vector<outgoing> outbox_;
    std::thread thread_;
};

}  // namespace fogbridge
