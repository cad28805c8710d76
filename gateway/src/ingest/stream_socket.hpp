// A non-blocking client connection, plain TCP or TLS over OpenSSL, for the local link. Reads and
// writes move what the kernel has room for and never wait. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/net_error.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace fogbridge {

class stream_socket final {
  public:
    using clock = std::chrono::steady_clock;

    struct io {
        std::size_t bytes = 0;  // 0: it would block
        net_error error;        // set: the connection is gone (closed by the peer, reset, TLS)
    };

    stream_socket() = default;
    ~stream_socket();
    stream_socket(const stream_socket&) = delete;
    stream_socket& operator=(const stream_socket&) = delete;

    // Connects to host:port (every address it resolves to, in turn), then does the TLS handshake
    // when tls is given, all before `deadline`. Gives up early when `cancel_fd` becomes
    // readable. Returns what failed (nothing on success).
    net_error open(const std::string& host, int port, ssl_ctx_st* tls, clock::time_point deadline,
                   int cancel_fd);
    void close();
    bool is_open() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    io read(char* buf, std::size_t n);
    io write(const char* buf, std::size_t n);
    // TLS holds decrypted bytes that poll() cannot see.
    bool pending() const;
    // TLS needs the socket writable to go on reading (a renegotiation or key update).
    bool read_wants_write() const { return read_wants_write_; }
    // TLS needs to read before a write can go on: polling for POLLOUT would spin.
    bool write_wants_read() const { return write_wants_read_; }

  private:
    net_error connect_tcp(const std::string& host, int port, clock::time_point deadline,
                          int cancel_fd);
    net_error handshake(const std::string& host, ssl_ctx_st* tls, clock::time_point deadline,
                        int cancel_fd);
    io tls_result(int rc, const char* what);

    int fd_ = -1;
    ssl_st* ssl_ = nullptr;
    bool read_wants_write_ = false;
    bool write_wants_read_ = false;
};

// Waits until fd is ready for `events` (POLLIN, POLLOUT), the deadline passes or cancel_fd is
// readable; true only in the first case.
bool wait_ready(int fd, short events, stream_socket::clock::time_point deadline, int cancel_fd);

}  // namespace fogbridge
