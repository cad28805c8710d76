// Thin layer between device_client and its MQTT client (the portable core's, over TCP or TLS),
// so the client's logic can run against a fake. Only device_client's network thread calls it,
// except wake().
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fogbridge {

// Mutual TLS when ca_file is set (TLS 1.2 or later): the broker's certificate is verified
// against ca_file, including its host name (an address against its IP entries; a name against
// its DNS names, also sent as SNI); cert_file/key_file are the device's own certificate and key.
struct device_tls_settings {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string key_passphrase;  // for an encrypted key_file; never logged

    bool enabled() const { return !ca_file.empty(); }
};

struct mqtt_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
};

struct mqtt_connect_options {
    std::string client_id;
    std::string host = "127.0.0.1";
    int port = 1883;
    device_tls_settings tls;
    std::chrono::seconds keepalive{30};
    std::optional<mqtt_message> will;
};

// A message from the broker; the views are valid during on_message only.
struct incoming_message {
    std::string_view topic;
    std::string_view payload;
};

// Called back on the thread that runs mqtt_transport::run_once.
class mqtt_transport_events {
  public:
    virtual void on_connect(bool accepted, std::string_view reason) = 0;
    virtual void on_message(const incoming_message& m) = 0;
    // A QoS 1 message left the client for good (PUBACK received).
    virtual void on_published(int message_id) = 0;

  protected:
    ~mqtt_transport_events() = default;
};

class mqtt_transport {
  public:
    virtual ~mqtt_transport() = default;

    virtual void set_events(mqtt_transport_events* events) = 0;
    // Starts a new connection attempt, dropping any previous connection and everything still
    // queued for it. Returns an error text, empty when the attempt started.
    virtual std::string connect(const mqtt_connect_options& options) = 0;
    // Waits up to max_wait for network activity or wake(), handles it and calls the events.
    // False when there is no connection (never made, refused or lost).
    virtual bool run_once(std::chrono::milliseconds max_wait) = 0;
    // Why the last run_once returned false, for the log; empty when unknown.
    virtual std::string last_error() const { return {}; }
    // Queues the message; returns its id, or nullopt when refused (no connection, or too much
    // already queued).
    virtual std::optional<int> publish(const mqtt_message& message) = 0;
    virtual bool subscribe(const std::string& topic, int qos) = 0;
    // Clean MQTT disconnect (the broker does not send the will).
    virtual void disconnect() = 0;
    // Thread-safe: makes a waiting run_once return soon.
    virtual void wake() = 0;

  protected:
    mqtt_transport() = default;
    mqtt_transport(const mqtt_transport&) = default;
    mqtt_transport& operator=(const mqtt_transport&) = default;
};

// The portable core's MQTT 3.1.1 client (core/mqtt.hpp, as on the boards) over a non-blocking
// TCP socket, with OpenSSL TLS when options.tls is enabled. It sends a PINGREQ when nothing was
// sent for half the keepalive and drops a link silent for 1.5 keepalives. Throws
// std::runtime_error when it cannot be set up.
std::unique_ptr<mqtt_transport> make_core_transport();

}  // namespace fogbridge
