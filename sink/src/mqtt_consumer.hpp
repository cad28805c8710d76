// fogbridge-sink's MQTT 3.1.1 subscriber over (mutual) TLS: a persistent session, QoS 1
// subscriptions, and PUBACK only when the caller says so, after its COMMIT. Reuses the
// gateway's packet codec (mqtt_wire) and socket (stream_socket). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/net_error.hpp"
#include "ingest/stream_socket.hpp"
#include "sink_config.hpp"

namespace fogbridge {
class tls_context;
}

namespace fogbridge::sink {

struct inbound {
    std::string topic;
    std::string payload;
    std::uint16_t id = 0;          // 0 at QoS 0: nothing to acknowledge
    std::uint64_t connection = 0;  // which connection it came on; a PUBACK goes only there
};

class mqtt_consumer final {
  public:
    using clock = std::chrono::steady_clock;

    // Throws std::runtime_error naming the file when the TLS credentials are unusable.
    mqtt_consumer(mqtt_settings settings, std::vector<std::string> filters);
    ~mqtt_consumer();
    mqtt_consumer(const mqtt_consumer&) = delete;
    mqtt_consumer& operator=(const mqtt_consumer&) = delete;

    // TCP, TLS, CONNECT/CONNACK and SUBSCRIBE/SUBACK; what failed, if anything. Gives up early
    // when cancel_fd becomes readable.
    net_error connect(int cancel_fd);
    bool connected() const { return socket_.is_open() && connected_; }
    std::uint64_t connection() const { return connection_; }
    bool session_present() const { return session_present_; }

    // Waits up to `timeout` for the broker, appends what arrived to `out`, keeps the connection
    // alive. An error once the connection is gone.
    net_error poll(std::chrono::milliseconds timeout, std::vector<inbound>& out, int cancel_fd);
    // PUBACK for a message of the current connection. Nothing is sent for an older one, which
    // the broker sends again; a failed send shows in the next poll().
    void acknowledge(const inbound& m);
    // DISCONNECT, then close: what was not acknowledged stays with the broker.
    void disconnect();

  private:
    net_error send(const std::string& bytes);
    net_error read_packets(std::vector<inbound>* out);
    // Closes the connection; keeps the first reason, which the call returns.
    net_error fail(net_error why);

    mqtt_settings settings_;
    std::vector<std::string> filters_;
    std::unique_ptr<tls_context> tls_;
    stream_socket socket_;
    std::string in_;
    bool connected_ = false;
    bool session_present_ = false;
    bool subscribed_ = false;
    std::vector<inbound> early_;
    std::uint64_t connection_ = 0;
    net_error error_;
    clock::time_point last_sent_;
    clock::time_point last_received_;
};

}  // namespace fogbridge::sink
