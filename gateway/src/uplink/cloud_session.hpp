// One connection to the cloud broker (libmosquitto, driven by the caller's thread). A new session
// is made for every connection attempt, so no state leaks between attempts. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/net_error.hpp"
#include "common/publish_options.hpp"
#include "uplink/broker_limits.hpp"
#include "uplink/cloud_settings.hpp"

struct mosquitto;
struct mqtt5__property;  // NOLINT(bugprone-reserved-identifier): libmosquitto's name
struct ssl_ctx_st;

namespace fogbridge {

struct session_events {
    // CONNACK: rc 0 = accepted; the broker's limits from its MQTT 5 properties.
    std::function<void(int rc, const broker_limits& limits)> connected;
    // PUBACK for message id `mid` with its MQTT 5 reason code (0 for 3.1.1).
    std::function<void(int mid, int reason_code)> acknowledged;
    std::function<void(int rc)> disconnected;
};

class cloud_session final {
  public:
    // `tls` (may be null for plain TCP) is shared: libmosquitto takes its own reference.
    cloud_session(cloud_settings settings, ssl_ctx_st* tls, std::string will_topic,
                  session_events events);
    ~cloud_session();
    cloud_session(const cloud_session&) = delete;
    cloud_session& operator=(const cloud_session&) = delete;

    // Starts a non-blocking connect; an error when it failed at once.
    net_error connect();
    // Runs the network for up to timeout_ms; once the connection is gone, the most specific
    // reason seen for it (a TLS error, a refused CONNACK...), and every call after.
    net_error run(int timeout_ms);
    // QoS 1 publish; returns the message id, or nullopt when libmosquitto refused it.
    std::optional<int> publish(const std::string& topic, std::string_view payload,
                               fogbridge::retain retain, compression encoding);
    void disconnect();

  private:
    static void on_connect(mosquitto* m, void* self, int rc, int flags,
                           const struct mqtt5__property* props);
    static void on_publish(mosquitto* m, void* self, int mid, int reason_code,
                           const struct mqtt5__property* props);
    static void on_disconnect(mosquitto* m, void* self, int rc,
                              const struct mqtt5__property* props);
    static void on_log(mosquitto* m, void* self, int level, const char* text);
    // True (and failure_ set) when the socket is hung up or in error: no use driving it.
    bool socket_closed();
    // Keeps the first failure: later ones are usually consequences of it.
    void note(net_error e);
    net_error gone() const;

    cloud_settings settings_;
    std::string will_topic_;
    session_events events_;
    mosquitto* mosq_ = nullptr;
    net_error failure_;
    bool alive_ = false;
    bool connack_ = false;  // a CONNACK came (accepted or not)
};

// Turns an OpenSSL / libmosquitto failure into one line that says which TLS check failed.
net_error explain_tls_failure(const net_error& failure);

}  // namespace fogbridge
