#include "ops/http_server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/this_thread.hpp"

namespace fogbridge {
namespace {

using clock_type = std::chrono::steady_clock;

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

constexpr std::string_view text_plain = "text/plain; charset=utf-8";
constexpr std::string_view metrics_type = "text/plain; version=0.0.4; charset=utf-8";

std::string response(int status, std::string_view content_type, std::string_view body,
                     bool head_only = false) {
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
        status, reason_phrase(status), content_type, body.size());
    if (status == 405) out += "Allow: GET, HEAD\r\n";
    out += "Connection: close\r\n\r\n";
    if (!head_only) out += body;
    return out;
}

std::string error_response(int status) {
    return response(status, text_plain, fmt::format("{}\n", reason_phrase(status)));
}

class fd_guard final {
  public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

struct connection {
    int fd = -1;
    clock_type::time_point deadline;
    std::string in;
    std::string out;  // the response, once the request is complete
    std::size_t sent = 0;
    bool answered = false;
};

constexpr std::size_t read_chunk = 4096;

// Reads what is available; answers once the head is complete or too large. False to close.
bool on_readable(connection& c, const http_settings& s, const http_handlers& h) {
    std::array<char, read_chunk> buf{};
    for (;;) {
        const ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c.in.append(buf.data(), static_cast<std::size_t>(n));
        const auto head = request_head_size(c.in, s.max_request_bytes);
        if (head == 0) continue;
        c.out = head == std::string_view::npos
                    ? error_response(431)
                    : http_answer(std::string_view(c.in).substr(0, head), h);
        c.answered = true;
        return true;
    }
}

// Takes every waiting client. Past the cap the oldest connection still sending its request goes
// (else the oldest of all): a client that sends its request at once is served however many idle
// ones there are.
void accept_all(int listen_fd, std::list<connection>& conns, std::size_t cap,
                clock_type::duration timeout) {
    for (;;) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (conns.size() >= cap) {
            auto victim = std::find_if(conns.begin(), conns.end(),
                                       [](const connection& c) { return !c.answered; });
            if (victim == conns.end()) victim = conns.begin();
            ::close(victim->fd);
            conns.erase(victim);
        }
        conns.push_back({fd, clock_type::now() + timeout, {}, {}, 0, false});
    }
}

// Sends what the socket takes. False to close: finished or failed.
bool on_writable(connection& c) {
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c.sent += static_cast<std::size_t>(n);
    }
    ::shutdown(c.fd, SHUT_WR);
    return false;
}

int listen_on(const http_settings& s, std::uint16_t& bound_port) {
    const auto where = fmt::format("metrics endpoint {}:{}", s.address, s.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const auto port_text = std::to_string(s.port);
    const int rc = ::getaddrinfo(s.address.empty() ? nullptr : s.address.c_str(), port_text.c_str(),
                                 &hints, &found);
    if (rc != 0) throw std::runtime_error(fmt::format("{}: {}", where, ::gai_strerror(rc)));
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);

    const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", where, std::strerror(errno)));
    fd_guard guard(fd);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
        throw std::runtime_error(fmt::format("{}: {}", where, std::strerror(errno)));
    }
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);  // NOLINT: sockets API
    if (local.ss_family == AF_INET6) {
        bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);  // NOLINT
    } else {
        bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);  // NOLINT
    }
    return guard.release();
}

}  // namespace

std::size_t request_head_size(std::string_view buffered, std::size_t max) {
    const auto end = buffered.substr(0, max).find("\r\n\r\n");
    if (end != std::string_view::npos && end + 4 <= max) return end + 4;
    return buffered.size() >= max ? std::string_view::npos : 0;
}

std::string http_answer(std::string_view request_head, const http_handlers& handlers) {
    const auto eol = request_head.find("\r\n");
    const auto line = request_head.substr(0, eol);
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return error_response(400);
    }
    const auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = line.substr(sp2 + 1);
    if (version.substr(0, 5) != "HTTP/" || target.empty()) return error_response(400);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return error_response(505);
    if (method != "GET" && method != "HEAD") return error_response(405);
    const bool head_only = method == "HEAD";
    target = target.substr(0, target.find('?'));
    try {
        if (target == "/metrics" && handlers.metrics) {
            return response(200, metrics_type, handlers.metrics(), head_only);
        }
        if (target == "/healthz" && handlers.problem) {
            const auto why = handlers.problem();
            return why.empty()
                       ? response(200, text_plain, "ok\n", head_only)
                       : response(503, text_plain, fmt::format("unhealthy: {}\n", why), head_only);
        }
        if (target == "/healthz" && handlers.healthy) {
            const bool ok = handlers.healthy();
            return response(ok ? 200 : 503, text_plain, ok ? "ok\n" : "unhealthy\n", head_only);
        }
    } catch (...) {
        return error_response(500);
    }
    return response(404, text_plain, "not found\n", head_only);
}

http_server::http_server(http_settings settings, http_handlers handlers)
    : settings_(std::move(settings)), handlers_(std::move(handlers)) {}

http_server::~http_server() { stop(); }

void http_server::start() {
    if (thread_.joinable()) return;
    const int fd = listen_on(settings_, port_);
    std::array<int, 2> pipe_fds{};
    if (::pipe2(pipe_fds.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
        ::close(fd);
        throw std::runtime_error(fmt::format("metrics endpoint: pipe: {}", std::strerror(errno)));
    }
    listen_fd_ = fd;
    wake_read_ = pipe_fds[0];
    wake_write_ = pipe_fds[1];
    thread_ = std::thread([this] { run(); });
}

void http_server::stop() {
    if (thread_.joinable()) {
        const char byte = 0;
        while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
        }
        thread_.join();
    }
    for (int* fd : {&listen_fd_, &wake_read_, &wake_write_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

void http_server::run() {
    name_this_thread("fb-metrics");
    std::list<connection> conns;
    std::vector<pollfd> fds;
    const auto timeout = std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double>(settings_.read_timeout));
    for (;;) {
        fds.clear();
        fds.push_back({wake_read_, POLLIN, 0});
        fds.push_back({listen_fd_, POLLIN, 0});
        auto next_deadline = clock_type::time_point::max();
        for (const auto& c : conns) {
            fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN), 0});
            next_deadline = std::min(next_deadline, c.deadline);
        }
        int wait_ms = -1;
        if (!conns.empty()) {
            const auto left = next_deadline - clock_type::now();
            wait_ms = static_cast<int>(std::clamp<std::int64_t>(
                std::chrono::ceil<std::chrono::milliseconds>(left).count(), 0, 60'000));
        }
        if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;
        if (fds[0].revents != 0) break;

        const auto now = clock_type::now();
        std::size_t i = 2;
        for (auto it = conns.begin(); it != conns.end(); ++i) {
            const short ev = fds[i].revents;
            bool keep = now < it->deadline;
            if (keep && (ev & (POLLERR | POLLNVAL)) != 0) keep = false;
            if (keep && !it->answered && (ev & (POLLIN | POLLHUP)) != 0) {
                keep = on_readable(*it, settings_, handlers_);
            }
            // Try to write straight away: most answers fit the socket buffer at once.
            if (keep && it->answered) keep = on_writable(*it);
            if (keep) {
                ++it;
            } else {
                ::close(it->fd);
                it = conns.erase(it);
            }
        }

        if ((fds[1].revents & POLLIN) != 0) {
            accept_all(listen_fd_, conns, std::max<std::size_t>(settings_.max_connections, 1),
                       timeout);
        }
    }
    for (const auto& c : conns) ::close(c.fd);
}

}  // namespace fogbridge
