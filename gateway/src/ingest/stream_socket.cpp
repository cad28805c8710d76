#include "ingest/stream_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/tls_context.hpp"

namespace fogbridge {
namespace {

net_error errno_error(int e) { return {net_errc_from_errno(e), std::strerror(e)}; }

bool is_ip_literal(const std::string& host) {
    in6_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1 || inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

int poll_timeout_ms(stream_socket::clock::time_point deadline) {
    using namespace std::chrono;
    const auto left = duration_cast<milliseconds>(deadline - stream_socket::clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left) + 1;
}

}  // namespace

bool wait_ready(int fd, short events, stream_socket::clock::time_point deadline, int cancel_fd) {
    for (;;) {
        std::array<pollfd, 2> fds{{{fd, events, 0}, {cancel_fd, POLLIN, 0}}};
        const int n = ::poll(fds.data(), cancel_fd >= 0 ? 2 : 1, poll_timeout_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        if (cancel_fd >= 0 && (fds[1].revents & POLLIN) != 0) return false;
        return fds[0].revents != 0;
    }
}

stream_socket::~stream_socket() { close(); }

void stream_socket::close() {
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    read_wants_write_ = false;
    write_wants_read_ = false;
}

net_error stream_socket::open(const std::string& host, int port, ssl_ctx_st* tls,
                              clock::time_point deadline, int cancel_fd) {
    close();
    net_error why = connect_tcp(host, port, deadline, cancel_fd);
    if (!why && tls != nullptr) why = handshake(host, tls, deadline, cancel_fd);
    if (why) close();
    return why;
}

net_error stream_socket::connect_tcp(const std::string& host, int port, clock::time_point deadline,
                                     int cancel_fd) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        return {net_errc::name_resolution,
                fmt::format("cannot resolve {}: {}", host, gai_strerror(rc))};
    }
    const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
    net_error why{net_errc::name_resolution, "no address"};
    int left = 0;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) ++left;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next, --left) {
        // An address that never answers (an unrouted IPv6 one) leaves time for the next.
        const auto until = clock::now() + (deadline - clock::now()) / left;
        fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd_ < 0) {
            why = errno_error(errno);
            continue;
        }
        const int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int err = ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
        if (err == EINPROGRESS) {
            socklen_t len = sizeof err;
            err = wait_ready(fd_, POLLOUT, until, cancel_fd) &&
                          getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                      ? err
                      : ETIMEDOUT;
        }
        if (err == 0) return {};
        why = errno_error(err);
        ::close(fd_);
        fd_ = -1;
    }
    return why;
}

net_error stream_socket::handshake(const std::string& host, ssl_ctx_st* tls,
                                   clock::time_point deadline, int cancel_fd) {
    ssl_ = SSL_new(tls);
    if (ssl_ == nullptr) return {net_errc::tls_setup, "TLS: " + openssl_error_text()};
    SSL_set_fd(ssl_, fd_);
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // SNI; SSL_set_tlsext_host_name() is a macro with a C cast.
    if (!is_ip_literal(host)) {
        SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str()));
    }
    for (;;) {
        ERR_clear_error();
        const int rc = SSL_connect(ssl_);
        if (rc == 1) return {};
        const int e = SSL_get_error(ssl_, rc);
        short events = 0;
        if (e == SSL_ERROR_WANT_READ) events = POLLIN;
        if (e == SSL_ERROR_WANT_WRITE) events = POLLOUT;
        if (events == 0) {
            const std::string detail = openssl_error_text();
            if (!detail.empty()) {
                return {net_errc::tls_handshake, "TLS handshake failed: " + detail};
            }
            return {net_errc::peer_closed, "TLS handshake failed: the connection was closed"};
        }
        if (!wait_ready(fd_, events, deadline, cancel_fd)) {
            return {net_errc::timed_out, "TLS handshake timed out"};
        }
    }
}

stream_socket::io stream_socket::read(char* buf, std::size_t n) {
    if (ssl_ != nullptr) {
        read_wants_write_ = false;
        ERR_clear_error();
        const int rc = SSL_read(ssl_, buf, static_cast<int>(n));
        if (rc > 0) return {static_cast<std::size_t>(rc), {}};
        if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_WRITE) read_wants_write_ = true;
        return tls_result(rc, "read");
    }
    for (;;) {
        const ssize_t rc = ::recv(fd_, buf, n, 0);
        if (rc > 0) return {static_cast<std::size_t>(rc), {}};
        if (rc == 0) return {0, net_errc::peer_closed};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        return {0, errno_error(errno)};
    }
}

stream_socket::io stream_socket::write(const char* buf, std::size_t n) {
    if (n == 0) return {};
    if (ssl_ != nullptr) {
        write_wants_read_ = false;
        ERR_clear_error();
        const int rc = SSL_write(ssl_, buf, static_cast<int>(n));
        if (rc > 0) return {static_cast<std::size_t>(rc), {}};
        if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) write_wants_read_ = true;
        return tls_result(rc, "write");
    }
    for (;;) {
        const ssize_t rc = ::send(fd_, buf, n, MSG_NOSIGNAL);
        if (rc >= 0) return {static_cast<std::size_t>(rc), {}};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        return {0, errno_error(errno)};
    }
}

// A TLS read or write that moved nothing: would it block, or is the connection gone?
stream_socket::io stream_socket::tls_result(int rc, const char* what) {
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return {};
    if (e == SSL_ERROR_ZERO_RETURN) return {0, net_errc::peer_closed};
    const int saved = errno;
    const std::string detail = openssl_error_text();
    if (!detail.empty()) {
        return {0, {net_errc::connection_lost, fmt::format("TLS {}: {}", what, detail)}};
    }
    if (e == SSL_ERROR_SYSCALL && saved != 0) {
        return {0, errno_error(saved).prefixed(fmt::format("TLS {}: ", what))};
    }
    return {0, {net_errc::connection_lost, fmt::format("TLS {}: connection lost", what)}};
}

bool stream_socket::pending() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }

}  // namespace fogbridge
