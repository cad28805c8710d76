// A tiny HTTP/1.1 server for the operator: GET /metrics and GET /healthz, one thread,
// poll-based, one request per connection. start() and stop() are for the owning thread; the
// callbacks run on the server's thread and must be thread-safe themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace fogbridge {

struct http_settings {
    std::string address = "127.0.0.1";  // numeric IPv4 or IPv6 address, or a host name
    std::uint16_t port = 9464;  // 0 binds a free port (tests); "off" is decided by the caller
    std::size_t max_request_bytes = 8192;  // request line and headers
    double read_timeout = 5;               // seconds a client has to send its request and read
    // Connections held at once. A new client past the cap pushes out the oldest connection
    // that has not sent its whole request yet, so slow or idle clients cannot hold every slot.
    std::size_t max_connections = 16;
};

struct http_handlers {
    std::function<std::string()> metrics;  // renders the /metrics page
    std::function<bool()> healthy;         // /healthz answers 200 when true, else 503
    // When set, decides /healthz instead of `healthy`: "" is healthy, anything else the reason,
    // answered with 503 in the body.
    std::function<std::string()> problem;
};

// The size of the request head (request line and headers, up to the blank line) at the front of
// `buffered`; 0 while it is incomplete; std::string_view::npos when it cannot fit in `max` bytes.
std::size_t request_head_size(std::string_view buffered, std::size_t max);

// The complete response to one request head (request line and headers, with or without the
// final blank line). Pure apart from calling the handlers; an exception from one gives 500.
std::string http_answer(std::string_view request_head, const http_handlers& handlers);

class http_server final {
  public:
    http_server(http_settings settings, http_handlers handlers);
    ~http_server();  // stop()
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds and listens, then serves on its own thread. Throws std::runtime_error
    // "metrics endpoint <address>:<port>: <reason>" when it cannot listen.
    void start();
    // Closes every connection and joins the thread. Idempotent.
    void stop();
    // The port listened on (the one chosen when the setting was 0); 0 before start().
    std::uint16_t port() const { return port_; }

  private:
    void run();

    http_settings settings_;
    http_handlers handlers_;
    int listen_fd_ = -1;
    int wake_read_ = -1;
    int wake_write_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace fogbridge
