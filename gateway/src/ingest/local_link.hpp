// The gateway's client on the local broker: a persistent QoS 1 session on the device topics, and
// the publisher of acks, rejects and status there. Thread-safe; callbacks run on its network
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"

struct mosquitto;
struct mosquitto_message;

namespace fogbridge {

struct inbound_message {
    std::string topic;
    std::string payload;
};

class local_link final {
  public:
    // Gets the messages that arrived since the last call, in order; may move them out.
    using message_handler = std::function<void(std::vector<inbound_message>&)>;

    local_link(const endpoint_settings& settings, std::string gateway_id,
               message_handler on_message);
    ~local_link();
    local_link(const local_link&) = delete;
    local_link& operator=(const local_link&) = delete;

    // Starts the network thread, which connects and reconnects with jittered backoff.
    void start();
    // Publishes `offline`, disconnects and joins the network thread.
    void stop();

    // Queues a publish for the network thread; safe from any thread. Always true: a publish
    // libmosquitto refuses later is logged.
    bool publish(const std::string& topic, std::string_view payload, int qos, bool retain);
    bool connected() const { return connected_; }

  private:
    struct outgoing {
        std::string topic;
        std::string payload;
        int qos = 0;
        bool retain = false;
    };

    void run();
    void send_outbox();
    void hand_over();
    int send_now(const outgoing& m);  // the message id, 0 when refused
    std::chrono::milliseconds loop_timeout() const;
    void flush(std::chrono::milliseconds budget);
    static void on_connect(mosquitto* m, void* self, int rc);
    static void on_disconnect(mosquitto* m, void* self, int rc);
    static void on_publish(mosquitto* m, void* self, int mid);
    static void on_message(mosquitto* m, void* self, const mosquitto_message* msg);
    static int on_key_passphrase(char* buf, int size, int rwflag, void* client);

    endpoint_settings settings_;
    std::string gateway_id_;
    std::string status_topic_;
    message_handler handler_;
    std::vector<inbound_message> arrived_;               // network thread only
    std::chrono::steady_clock::time_point run_started_;  // when arrived_ got its first
    mosquitto* mosq_ = nullptr;
    std::atomic<bool> connected_{false};
    std::atomic<bool> stopping_{false};
    // Publishes wait here for the network thread: libmosquitto's own cross-thread queueing
    // corrupted the stream now and then under load (the broker saw garbage and cut us off).
    std::mutex outbox_mutex_;
    std::vector<outgoing> outbox_;
    std::atomic<bool> outbox_filled_{false};  // lets the loop skip the lock while it is empty
    std::atomic<std::int64_t> last_publish_ms_{0};
    int offline_mid_ = 0;  // network thread only
    bool offline_acked_ = false;
    std::thread thread_;
};

}  // namespace fogbridge
