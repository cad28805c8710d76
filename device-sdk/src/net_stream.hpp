// The Linux byte stream under the core's MQTT client: a non-blocking TCP connection, with TLS
// (OpenSSL) on top when a CA is set. Not thread-safe: one thread drives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fogbridge/mqtt_transport.hpp"

namespace fogbridge::detail {

enum class stream_state { closed, connecting, open, failed };

class net_stream final {
  public:
    net_stream() = default;
    ~net_stream();
    net_stream(const net_stream&) = delete;
    net_stream& operator=(const net_stream&) = delete;

    // Starts connecting (name lookup is synchronous); false with error() set when it cannot.
    bool open(const std::string& host, int port, const device_tls_settings& tls);
    void close();

    // Moves a connection attempt on (TCP connect, then the TLS handshake); never blocks.
    stream_state progress();
    stream_state state() const { return state_; }

    // Bytes moved; 0 when the stream would block; -1 when the connection is gone (see error()).
    long write(const std::uint8_t* data, std::size_t size);
    long read(std::uint8_t* data, std::size_t size);

    int fd() const { return fd_; }
    // What poll() should wait for, besides readable: the TCP connect or TLS wants to write.
    bool wants_write() const {
        return state_ == stream_state::connecting ? !tcp_up_ || want_write_ : want_write_;
    }
    const std::string& error() const { return error_; }

  private:
    struct tls_state;

    bool start_tcp();
    bool start_tls();
    stream_state fail(std::string why);
    long tls_result(int n, const char* what);

    std::string host_;
    int port_ = 0;
    device_tls_settings tls_settings_;
    int fd_ = -1;
    bool tcp_up_ = false;
    bool want_write_ = false;
    tls_state* tls_ = nullptr;
    stream_state state_ = stream_state::closed;
    std::string error_;
};

}  // namespace fogbridge::detail
