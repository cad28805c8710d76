#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/http_server.hpp"

using fogbridge::http_answer;
using fogbridge::http_handlers;
using fogbridge::http_server;
using fogbridge::http_settings;

namespace {

http_handlers test_handlers(std::atomic<bool>& healthy) {
    return {
        [] { return std::string("fogbridge_up 1\n"); }, [&healthy] { return healthy.load(); }, {}};
}

// A loopback client socket with a receive timeout, so a broken server fails the test instead
// of hanging it.
class client final {
  public:
    explicit client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        REQUIRE(fd_ >= 0);
        timeval tv{2, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);  // NOLINT
    }
    ~client() { ::close(fd_); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    void send(const std::string& text) const {
        REQUIRE(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(text.size()));
    }
    // Everything until the server closes the connection.
    std::string read_all() const {
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            REQUIRE(n >= 0);  // a timeout fails here
            if (n == 0) return out;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

  private:
    int fd_;
};

std::string status_line(const std::string& response) {
    return response.substr(0, response.find("\r\n"));
}

std::string body(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
}

}  // namespace

TEST_CASE("http_answer: routes, methods and errors") {
    std::atomic<bool> healthy{true};
    const auto h = test_handlers(healthy);
    CHECK(http_answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", h) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
          "Content-Length: 15\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
          "fogbridge_up 1\n");
    CHECK(http_answer("GET /metrics?x=1 HTTP/1.0\r\n\r\n", h).find("200 OK") != std::string::npos);
    const auto head = http_answer("HEAD /metrics HTTP/1.1\r\n\r\n", h);
    CHECK(head.find("Content-Length: 15\r\n") != std::string::npos);
    CHECK(body(head).empty());

    CHECK(http_answer("GET /healthz HTTP/1.1\r\n\r\n", h) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
          "Cache-Control: no-store\r\nConnection: close\r\n\r\nok\n");
    healthy = false;
    CHECK(status_line(http_answer("GET /healthz HTTP/1.1\r\n\r\n", h)) ==
          "HTTP/1.1 503 Service Unavailable");

    CHECK(status_line(http_answer("GET / HTTP/1.1\r\n\r\n", h)) == "HTTP/1.1 404 Not Found");
    const auto post = http_answer("POST /metrics HTTP/1.1\r\n\r\n", h);
    CHECK(status_line(post) == "HTTP/1.1 405 Method Not Allowed");
    CHECK(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
    CHECK(status_line(http_answer("GET /metrics\r\n\r\n", h)) == "HTTP/1.1 400 Bad Request");
    CHECK(status_line(http_answer("garbage\r\n\r\n", h)) == "HTTP/1.1 400 Bad Request");
    CHECK(status_line(http_answer("GET /metrics HTTP/2.0\r\n\r\n", h)) ==
          "HTTP/1.1 505 HTTP Version Not Supported");

    const http_handlers throwing{[]() -> std::string { throw std::runtime_error("boom"); }, {}, {}};
    CHECK(status_line(http_answer("GET /metrics HTTP/1.1\r\n\r\n", throwing)) ==
          "HTTP/1.1 500 Internal Server Error");
    CHECK(status_line(http_answer("GET /healthz HTTP/1.1\r\n\r\n", throwing)) ==
          "HTTP/1.1 404 Not Found");  // no health callback: no such page
}

TEST_CASE("http_server answers raw socket requests on an ephemeral loopback port") {
    std::atomic<bool> healthy{true};
    http_server server({"127.0.0.1", 0, 8192, 2.0, 16}, test_handlers(healthy));
    server.start();
    REQUIRE(server.port() != 0);

    client c(server.port());
    c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const auto response = c.read_all();
    CHECK(status_line(response) == "HTTP/1.1 200 OK");
    CHECK(body(response) == "fogbridge_up 1\n");

    healthy = false;
    client h(server.port());
    h.send("GET /healthz HTTP/1.1\r\n\r\n");
    CHECK(status_line(h.read_all()) == "HTTP/1.1 503 Service Unavailable");
    server.stop();
    server.stop();  // idempotent
}

TEST_CASE("http_server serves a second client while the first is still sending") {
    std::atomic<bool> healthy{true};
    http_server server({"127.0.0.1", 0, 8192, 2.0, 16}, test_handlers(healthy));
    server.start();
    client slow(server.port());
    slow.send("GET /metr");  // an incomplete request keeps its connection open
    client quick(server.port());
    quick.send("GET /healthz HTTP/1.1\r\n\r\n");
    CHECK(status_line(quick.read_all()) == "HTTP/1.1 200 OK");
    slow.send("ics HTTP/1.1\r\n\r\n");
    CHECK(body(slow.read_all()) == "fogbridge_up 1\n");
}

TEST_CASE("http_server refuses an oversized request and drops a silent client") {
    std::atomic<bool> healthy{true};
    http_server server({"127.0.0.1", 0, 256, 0.05, 16}, test_handlers(healthy));
    server.start();

    client big(server.port());
    big.send("GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(300, 'a'));
    CHECK(status_line(big.read_all()) == "HTTP/1.1 431 Request Header Fields Too Large");

    client silent(server.port());
    CHECK(silent.read_all().empty());  // closed after the 50 ms read timeout
}

TEST_CASE("http_server: a port in use is a start-up error with one clear line") {
    std::atomic<bool> healthy{true};
    http_server first({"127.0.0.1", 0, 8192, 1.0, 16}, test_handlers(healthy));
    first.start();
    http_server second({"127.0.0.1", first.port(), 8192, 1.0, 16}, test_handlers(healthy));
    try {
        second.start();
        FAIL("start() should have thrown");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) ==
              "metrics endpoint 127.0.0.1:" + std::to_string(first.port()) +
                  ": Address already in use");
    }
}

TEST_CASE("request_head_size: complete, incomplete and too large") {
    CHECK(fogbridge::request_head_size("GET / HTTP/1.1\r\n\r\nextra", 100) == 18);
    CHECK(fogbridge::request_head_size("GET / HTTP/1.1\r\n", 100) == 0);
    CHECK(fogbridge::request_head_size(std::string(100, 'a'), 100) == std::string::npos);
    CHECK(fogbridge::request_head_size("GET / HTTP/1.1\r\n\r\n", 18) == 18);
    CHECK(fogbridge::request_head_size("GET / HTTP/1.1\r\n\r\n", 17) == std::string::npos);
}

TEST_CASE("http_answer: /healthz says why it is unhealthy") {
    http_handlers h;
    std::string why = "uplink stuck: 3 batch(es) unacknowledged and no PUBACK for 61 s";
    h.problem = [&why] { return why; };
    const auto bad = http_answer("GET /healthz HTTP/1.1\r\n\r\n", h);
    CHECK(status_line(bad) == "HTTP/1.1 503 Service Unavailable");
    CHECK(body(bad) == "unhealthy: " + why + "\n");
    why.clear();
    const auto good = http_answer("GET /healthz HTTP/1.1\r\n\r\n", h);
    CHECK(status_line(good) == "HTTP/1.1 200 OK");
    CHECK(body(good) == "ok\n");
}

TEST_CASE("http server: idle clients holding every slot do not keep /metrics from answering") {
    std::atomic<bool> healthy{true};
    http_settings s;
    s.port = 0;
    s.max_connections = 4;
    s.read_timeout = 30;  // the idle ones would hold their slots this long
    http_server server(s, test_handlers(healthy));
    server.start();
    std::vector<std::unique_ptr<client>> idle;
    for (int i = 0; i < 40; ++i) {
        idle.push_back(std::make_unique<client>(server.port()));
        idle.back()->send("GET /metr");  // and never the rest
    }
    for (int round = 0; round < 3; ++round) {
        client c(server.port());
        c.send("GET /metrics HTTP/1.1\r\n\r\n");
        const auto r = c.read_all();
        CHECK(status_line(r) == "HTTP/1.1 200 OK");
        CHECK(body(r) == "fogbridge_up 1\n");
    }
    server.stop();
}
