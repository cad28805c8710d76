// Error codes of the network side (sockets, TLS, MQTT sessions, the links), wired into
// std::error_code, and net_error: a code with the plain words a log line says. Thread-safe.
#pragma once

#include <string>
#include <system_error>
#include <utility>

namespace fogbridge {

enum class net_errc {
    name_resolution = 1,   // the host name does not resolve
    connect_refused,       // nothing listens there, or the connection was reset before CONNACK
    unreachable,           // no route to the host or network
    timed_out,             // a connect, handshake or CONNACK deadline passed
    tls_setup,             // a TLS connection could not be set up locally
    tls_handshake,         // the TLS handshake failed (a certificate check, a TLS alert)
    peer_closed,           // the broker closed the connection
    connection_lost,       // reset, broken pipe, or another socket error
    no_answer,             // nothing from the broker within the keepalive
    protocol_violation,    // the broker sent a packet that breaks MQTT
    refused_by_broker,     // CONNACK refused the connection
    subscription_refused,  // SUBACK refused a subscription or granted QoS 0
    publish_refused,       // the MQTT client would not queue a publish
    credentials_rotated,   // the link ended to use new TLS credentials
};

}  // namespace fogbridge

template <>
struct std::is_error_code_enum<fogbridge::net_errc> : std::true_type {};

namespace fogbridge {

const std::error_category& net_category() noexcept;
std::error_code make_error_code(net_errc e) noexcept;

// The socket errno of a failed connect, read or write, as a net_errc.
net_errc net_errc_from_errno(int e) noexcept;

// Why a network operation failed: which kind (code) and what the log says (text). A default one
// means success.
class net_error final {
  public:
    net_error() = default;
    // `detail` empty: the text is the code's message. Implicit, so that `return net_errc::x;`
    // reads as what it is.
    net_error(net_errc code, std::string detail = {})  // NOLINT(google-explicit-constructor)
        : code_(code), detail_(std::move(detail)) {}

    explicit operator bool() const { return static_cast<bool>(code_); }
    std::error_code code() const { return code_; }
    bool is(net_errc e) const { return code_ == make_error_code(e); }
    std::string text() const { return detail_.empty() ? code_.message() : detail_; }
    // The same code with `prefix` before the text ("cannot connect: " + ...).
    net_error prefixed(const std::string& prefix) const;

  private:
    std::error_code code_;
    std::string detail_;
};

}  // namespace fogbridge
