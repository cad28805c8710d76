// The gateway's MQTT 3.1.1 session with the local broker, without I/O: bytes from the broker go
// in, received messages and bytes to send come out, and timers are asked for. local_link does
// the I/O. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/inbound_message.hpp"
#include "common/net_error.hpp"
#include "common/publish_options.hpp"
#include "ingest/mqtt_wire.hpp"

namespace fogbridge {

class mqtt_session final {
  public:
    using clock = std::chrono::steady_clock;

    struct settings {
        mqtt::connect_options connect;
        std::vector<std::string> subscriptions;  // at QoS 1 after every CONNACK
        std::chrono::milliseconds connack_timeout{10000};
        // The largest packet taken from the broker, fixed header included; a larger one is a
        // protocol error as soon as its fixed header is in, before its body is buffered.
        std::size_t max_packet_bytes = 262144;
    };

    struct fed {
        std::size_t used = 0;      // bytes consumed: complete packets only
        bool connected = false;    // a CONNACK accepted the connection
        bool subscribed = false;   // the SUBACK granted every subscription at QoS 1 or 2
        std::size_t messages = 0;  // PUBLISH packets received
        // Set: the broker broke the protocol (protocol_violation), refused the connection
        // (refused_by_broker) or a subscription (subscription_refused); close the connection.
        net_error error;
    };

    explicit mqtt_session(settings s);

    // A new connection: queues CONNECT; whatever was unsent on the old one is dropped.
    void open(clock::time_point now);
    // The connection is gone. QoS 1 publishes not yet acknowledged are kept for the next one.
    void closed();
    bool connected() const { return connected_; }
    // The SUBACK of this connection came and granted every subscription.
    bool subscribed() const { return subscribed_; }

    // Consumes the complete packets at the front of `data`. Each PUBLISH is appended to
    // `arrived` and acknowledged; with no `arrived` (stopping) it is left unacknowledged for the
    // broker to send again in the next session. Stops at the first packet in error (fed::error).
    fed feed(std::string_view data, clock::time_point now, std::vector<inbound_message>* arrived);

    // Sends at once while connected. A QoS 1 publish waits for a connection and is sent again
    // after a reconnect until its PUBACK came; a retained one replaces one still waiting on the
    // same topic; past max_pending the oldest is dropped (counted). A QoS 0 publish is dropped
    // while not connected. Returns the packet id (0 at QoS 0).
    std::uint16_t publish(std::string topic, std::string payload, publish_options options);
    bool acknowledged(std::uint16_t id) const { return id != 0 && !by_id_.contains(id); }
    std::size_t unacknowledged() const { return pending_.size(); }
    std::uint64_t dropped() const { return dropped_; }
    static constexpr std::size_t max_pending = 10000;
    void disconnect();

    // Queues PINGREQ when nothing was sent or nothing received for the keepalive; an error when
    // the broker has not answered in time (timed_out: no CONNACK; no_answer: nothing after a
    // PINGREQ) and the connection should be dropped.
    net_error tick(clock::time_point now);
    // Until tick() has something to do.
    clock::duration until_tick(clock::time_point now) const;

    // Bytes to write, front first; sent() drops what was written.
    const std::string& output() const { return out_; }
    void sent(std::size_t n, clock::time_point now);

  private:
    struct stored {
        std::uint16_t id = 0;
        std::string topic;
        std::string payload;
        fogbridge::retain retain = retain::no;
        bool sent_before = false;
    };

    void on_packet(const mqtt::packet& p, fed& result, std::vector<inbound_message>* arrived);
    void on_connack(const mqtt::packet& p, fed& result);
    void on_puback(std::uint16_t id);
    void on_suback(const mqtt::packet& p, fed& result);
    void send(stored& m);
    stored* supersede(const std::string& topic);
    void forget(std::map<std::uint64_t, stored>::iterator m);
    std::uint16_t next_id();

    settings settings_;
    bool open_ = false;
    bool connected_ = false;
    bool subscribed_ = false;
    std::uint16_t subscribe_id_ = 0;  // of the SUBSCRIBE waiting for its SUBACK; 0: none
    std::string out_;
    std::uint64_t order_ = 0;
    std::map<std::uint64_t, stored> pending_;  // QoS 1 not yet acknowledged, in publish order
    std::unordered_map<std::uint16_t, std::uint64_t> by_id_;  // order not in pending_: superseded
    std::unordered_map<std::string, std::uint64_t> latest_retained_;  // topic -> order
    std::uint64_t dropped_ = 0;
    std::uint16_t last_id_ = 0;
    clock::time_point opened_;
    clock::time_point last_sent_;
    clock::time_point last_received_;
    clock::time_point ping_sent_;
    bool ping_outstanding_ = false;
};

}  // namespace fogbridge
