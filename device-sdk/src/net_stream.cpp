#include "net_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

namespace fogbridge::detail {
namespace {

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) {
        return "unknown error";
    }
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    return buf.data();
}

bool is_ip_literal(const std::string& host) {
    in6_addr addr{};
    return ::inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// OpenSSL asks for an encrypted key's passphrase; without this it would prompt on a terminal.
int on_passphrase(char* buf, int size, int /*rwflag*/, void* userdata) {
    const auto* secret = static_cast<const std::string*>(userdata);
    if (secret == nullptr || size <= 0) {
        return 0;
    }
    const auto n = std::min(secret->size(), static_cast<std::size_t>(size - 1));
    std::memcpy(buf, secret->data(), n);
    buf[n] = '\0';
    return static_cast<int>(n);
}

}  // namespace

struct net_stream::tls_state {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    std::string passphrase;
    ~tls_state() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
};

net_stream::~net_stream() { close(); }

void net_stream::close() {
    delete tls_;
    tls_ = nullptr;
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    tcp_up_ = false;
    want_write_ = false;
    state_ = stream_state::closed;
}

stream_state net_stream::fail(std::string why) {
    close();
    error_ = std::move(why);
    state_ = stream_state::failed;
    return state_;
}

bool net_stream::open(const std::string& host, int port, const device_tls_settings& tls) {
    // OpenSSL writes to the socket with write(): a broker gone away must not kill the program
    // with SIGPIPE. Blocked for this thread only (the SDK's network thread), EPIPE reports it.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    close();
    error_.clear();
    host_ = host;
    port_ = port;
    tls_settings_ = tls;
    if (!start_tcp() || (tls.enabled() && !start_tls())) {
        return false;
    }
    state_ = stream_state::connecting;
    return true;
}

bool net_stream::start_tcp() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port_);
    if (const int rc = ::getaddrinfo(host_.c_str(), service.c_str(), &hints, &found); rc != 0) {
        fail(host_ + ": " + ::gai_strerror(rc));
        return false;
    }
    std::string why = "no address";
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd_ < 0) {
            why = std::strerror(errno);
            continue;
        }
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd_, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
            break;
        }
        why = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) {
        fail(why);
        return false;
    }
    return true;
}

bool net_stream::start_tls() {
    tls_ = new tls_state;
    tls_->passphrase = tls_settings_.key_passphrase;
    auto& t = *tls_;
    t.ctx = SSL_CTX_new(TLS_client_method());
    if (t.ctx == nullptr) {
        fail("TLS: " + openssl_error());
        return false;
    }
    SSL_CTX_set_min_proto_version(t.ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(t.ctx, &on_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(t.ctx, &t.passphrase);
    const auto& s = tls_settings_;
    if (SSL_CTX_load_verify_locations(t.ctx, s.ca_file.c_str(), nullptr) != 1) {
        fail("TLS: CA file " + s.ca_file + ": " + openssl_error());
        return false;
    }
    if (!s.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(t.ctx, s.cert_file.c_str()) != 1) {
            fail("TLS: certificate " + s.cert_file + ": " + openssl_error());
            return false;
        }
        if (SSL_CTX_use_PrivateKey_file(t.ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t.ctx) != 1) {
            fail("TLS: key " + s.key_file + ": " + openssl_error());
            return false;
        }
    }
    SSL_CTX_set_verify(t.ctx, SSL_VERIFY_PEER, nullptr);
    t.ssl = SSL_new(t.ctx);
    if (t.ssl == nullptr || SSL_set_fd(t.ssl, fd_) != 1) {
        fail("TLS: " + openssl_error());
        return false;
    }
    // The buffer of a retried write may move and grow (the transport appends to it).
    SSL_set_mode(t.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // The broker's certificate must name the host: an address its IP entries, a name its DNS
    // names (sent as SNI too; SSL_set_tlsext_host_name() is a macro with a C cast).
    X509_VERIFY_PARAM* param = SSL_get0_param(t.ssl);
    if (is_ip_literal(host_)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(t.ssl, host_.c_str());
        SSL_ctrl(t.ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host_.c_str()));
    }
    return true;
}

stream_state net_stream::progress() {
    if (state_ != stream_state::connecting) {
        return state_;
    }
    if (!tcp_up_) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err != 0) {
            return fail(std::strerror(err));
        }
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
            return state_;  // still connecting
        }
        tcp_up_ = true;
    }
    if (tls_ == nullptr) {
        state_ = stream_state::open;
        return state_;
    }
    ERR_clear_error();
    const int rc = SSL_connect(tls_->ssl);
    if (rc == 1) {
        want_write_ = false;
        state_ = stream_state::open;
        return state_;
    }
    const int e = SSL_get_error(tls_->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want_write_ = e == SSL_ERROR_WANT_WRITE;
        return state_;
    }
    const long verify = SSL_get_verify_result(tls_->ssl);
    if (verify != X509_V_OK) {
        return fail(std::string("TLS: the broker's certificate: ") +
                    X509_verify_cert_error_string(verify));
    }
    const std::string detail = ERR_peek_error() != 0 ? openssl_error() : "";
    return fail("TLS handshake failed: " +
                (detail.empty() ? std::string("the connection was closed") : detail));
}

long net_stream::tls_result(int n, const char* what) {
    if (n > 0) {
        want_write_ = false;
        return n;
    }
    const int e = SSL_get_error(tls_->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want_write_ = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        fail(errno != 0 && e == SSL_ERROR_SYSCALL && n < 0
                 ? std::string(what) + ": " + std::strerror(errno)
                 : std::string("the broker closed the connection"));
        return -1;
    }
    fail(std::string(what) + ": " + openssl_error());
    return -1;
}

long net_stream::write(const std::uint8_t* data, std::size_t size) {
    if (state_ != stream_state::open) {
        return state_ == stream_state::connecting ? 0 : -1;
    }
    if (size == 0) {
        return 0;
    }
    if (tls_ != nullptr) {
        ERR_clear_error();
        errno = 0;
        const int chunk = static_cast<int>(std::min<std::size_t>(size, 1U << 20U));
        return tls_result(SSL_write(tls_->ssl, data, chunk), "TLS write");
    }
    const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n >= 0) {
        return n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return 0;
    }
    fail(std::strerror(errno));
    return -1;
}

long net_stream::read(std::uint8_t* data, std::size_t size) {
    if (state_ != stream_state::open) {
        return state_ == stream_state::connecting ? 0 : -1;
    }
    if (tls_ != nullptr) {
        ERR_clear_error();
        errno = 0;
        const int chunk = static_cast<int>(std::min<std::size_t>(size, 1U << 20U));
        return tls_result(SSL_read(tls_->ssl, data, chunk), "TLS read");
    }
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n > 0) {
        return n;
    }
    if (n == 0) {
        fail("the broker closed the connection");
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return 0;
    }
    fail(std::strerror(errno));
    return -1;
}

}  // namespace fogbridge::detail
