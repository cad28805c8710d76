// The Linux SDK's MQTT transport (the core's client over TCP) against a scripted broker on a
// loopback socket: the cases a real Mosquitto will not produce (refusals, malformed bytes, a
// silent broker, a slow reader) and the byte-exact packets it sends.
#include "fogbridge/mqtt_transport.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;

// One accepted connection, driven by a script on its own thread.
class scripted_broker final {
  public:
    explicit scripted_broker(std::function<void(scripted_broker&)> script) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_fd_, 1) == 0);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this, script = std::move(script)] {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) == 1) {
                fd_ = ::accept(listen_fd_, nullptr, nullptr);
                script(*this);
            }
            done_ = true;
        });
    }
    ~scripted_broker() {
        thread_.join();
        if (fd_ >= 0) {
            ::close(fd_);
        }
        ::close(listen_fd_);
    }
    scripted_broker(const scripted_broker&) = delete;
    scripted_broker& operator=(const scripted_broker&) = delete;

    int port() const { return port_; }
    bool done() const { return done_; }
    void send(const bytes& b) { ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL); }
    // Exactly n bytes, or fewer when the client closes or 5 s pass.
    bytes receive(std::size_t n) {
        bytes out;
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (out.size() < n && std::chrono::steady_clock::now() < until) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) != 1) {
                continue;
            }
            std::uint8_t buf[65536];
            const auto got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
            if (got <= 0) {
                break;
            }
            out.insert(out.end(), buf, buf + got);
        }
        return out;
    }
    // One packet: fixed header, remaining length, body.
    bytes receive_packet() {
        bytes head = receive(1);
        std::size_t length = 0;
        std::size_t multiplier = 1;
        for (int i = 0; i < 4 && !head.empty(); ++i) {
            const bytes b = receive(1);
            if (b.empty()) {
                return {};
            }
            head.push_back(b[0]);
            length += (b[0] & 0x7FU) * multiplier;
            multiplier *= 128;
            if ((b[0] & 0x80) == 0) {
                break;
            }
        }
        const bytes body = receive(length);
        head.insert(head.end(), body.begin(), body.end());
        return head;
    }
    void close() {
        ::close(fd_);
        fd_ = -1;
    }

  private:
    int listen_fd_ = -1;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> done_{false};
    std::thread thread_;
};

struct recorder final : fogbridge::mqtt_transport_events {
    std::optional<bool> accepted;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> messages;
    std::vector<int> published;
    void on_connect(bool ok, std::string_view why) override {
        accepted = ok;
        reason = why;
    }
    void on_message(const fogbridge::incoming_message& m) override {
        messages.emplace_back(m.topic, m.payload);
    }
    void on_published(int id) override { published.push_back(id); }
};

fogbridge::mqtt_connect_options options(int port, int keepalive_s = 30) {
    fogbridge::mqtt_connect_options o;
    o.client_id = "board-1";
    o.port = port;
    o.keepalive = std::chrono::seconds{keepalive_s};
    o.will = fogbridge::mqtt_message{"devices/board-1/status", "offline", 1, true};
    return o;
}

// Runs the transport until `done` or it fails; returns whether it is still alive.
bool run_until(fogbridge::mqtt_transport& t, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (!t.run_once(20ms)) {
            return false;
        }
        if (done()) {
            return true;
        }
    }
    return true;
}

const bytes connack_ok = {0x20, 0x02, 0x00, 0x00};

}  // namespace

TEST_SUITE("core transport") {
    TEST_CASE("CONNECT with the will, SUBSCRIBE, a QoS 1 PUBLISH and its PUBACK, an ack in") {
        bytes connect;
        bytes subscribe;
        bytes publish;
        scripted_broker broker([&](scripted_broker& b) {
            connect = b.receive_packet();
            b.send(connack_ok);
            subscribe = b.receive_packet();
            b.send({0x90, 0x03, subscribe[2], subscribe[3], 0x01});
            publish = b.receive_packet();
            b.send({0x40, 0x02, publish[publish.size() - 11],
                    publish[publish.size() - 10]});  // id, then 9 bytes of payload
            // An ack on the ack topic, QoS 1, one byte at a time.
            const std::string topic = "devices/board-1/ack";
            const std::string payload = R"({"boot":3,"seq":9})";
            bytes in = {0x32, static_cast<std::uint8_t>(2 + topic.size() + 2 + payload.size()), 0,
                        static_cast<std::uint8_t>(topic.size())};
            in.insert(in.end(), topic.begin(), topic.end());
            in.push_back(0x12);
            in.push_back(0x34);
            in.insert(in.end(), payload.begin(), payload.end());
            for (const auto byte : in) {
                b.send({byte});
            }
            const bytes puback = b.receive_packet();
            CHECK(puback == bytes{0x40, 0x02, 0x12, 0x34});
        });
        auto t = fogbridge::make_core_transport();
        recorder events;
        t->set_events(&events);
        REQUIRE(t->connect(options(broker.port())).empty());
        REQUIRE(run_until(*t, [&] { return events.accepted.has_value(); }));
        CHECK(*events.accepted);
        REQUIRE(t->subscribe("devices/board-1/ack", 1));
        const auto id = t->publish({"devices/board-1/readings", "{\"seq\":1}", 1, false});
        REQUIRE(id);
        CHECK(run_until(*t, [&] { return !events.messages.empty() && broker.done(); }));
        CHECK(events.published == std::vector<int>{*id});
        REQUIRE(events.messages.size() == 1);
        CHECK(events.messages[0].first == "devices/board-1/ack");
        CHECK(events.messages[0].second == R"({"boot":3,"seq":9})");

        const std::string c(connect.begin(), connect.end());
        CHECK(connect[0] == 0x10);
        CHECK(c.find("MQTT") != std::string::npos);
        CHECK(c.find("board-1") != std::string::npos);
        CHECK(c.find("devices/board-1/status") != std::string::npos);
        CHECK(c.find("offline") != std::string::npos);
        CHECK(connect[9] == (0x02 | 0x04 | 0x08 | 0x20));  // clean, will QoS 1 retained
        CHECK(subscribe[0] == 0x82);
        CHECK(subscribe.back() == 1);
        CHECK(publish[0] == 0x32);
        const std::string p(publish.begin(), publish.end());
        CHECK(p.find("devices/board-1/readings") != std::string::npos);
        CHECK(p.substr(p.size() - 9) == "{\"seq\":1}");
    }

    TEST_CASE("a refused CONNACK is reported with its reason") {
        scripted_broker broker([](scripted_broker& b) {
            b.receive_packet();
            b.send({0x20, 0x02, 0x00, 0x05});
            b.receive(1);  // until the client closes
        });
        auto t = fogbridge::make_core_transport();
        recorder events;
        t->set_events(&events);
        REQUIRE(t->connect(options(broker.port())).empty());
        CHECK_FALSE(run_until(*t, [] { return false; }));
        CHECK(events.accepted == false);
        CHECK(events.reason == "not authorised");
        CHECK(t->last_error() == "connection refused: not authorised");
    }

    TEST_CASE("malformed broker bytes drop the connection, they do not crash it") {
        const std::vector<bytes> cases = {
            {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},  // a five-byte remaining length
            {0x30, 0x03, 0x00, 0x09, 'a'},         // a topic longer than the packet
            {0x34, 0x03, 0x00, 0x01, 'a'},         // QoS 2 (never subscribed to)
            {0x40, 0x01, 0x00},                    // a PUBACK without its id
            {0x20, 0x03, 0x00, 0x00, 0x00},        // a CONNACK of the wrong size
            {0x90, 0x03, 0x00, 0x01, 0x80},        // the subscription refused
        };
        for (const auto& bad : cases) {
            CAPTURE(bad.size());
            scripted_broker broker([&](scripted_broker& b) {
                b.receive_packet();
                if (bad[0] != 0x20) {
                    b.send(connack_ok);
                }
                b.send(bad);
                b.receive(1);
            });
            auto t = fogbridge::make_core_transport();
            recorder events;
            t->set_events(&events);
            REQUIRE(t->connect(options(broker.port())).empty());
            CHECK_FALSE(run_until(*t, [] { return false; }));
            CHECK_FALSE(t->last_error().empty());
        }
    }

    TEST_CASE("a broker that closes the link, and a refused port, are errors") {
        scripted_broker broker([](scripted_broker& b) {
            b.receive_packet();
            b.send(connack_ok);
            b.close();
        });
        auto t = fogbridge::make_core_transport();
        recorder events;
        t->set_events(&events);
        REQUIRE(t->connect(options(broker.port())).empty());
        CHECK_FALSE(run_until(*t, [] { return false; }));
        CHECK(t->last_error() == "the broker closed the connection");

        // A port nothing listens on: bound, then closed.
        const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(probe);
        const int port = ntohs(a.sin_port);
        auto u = fogbridge::make_core_transport();
        u->set_events(&events);
        if (u->connect(options(port)).empty()) {
            CHECK_FALSE(run_until(*u, [] { return false; }));
        }
        CHECK_FALSE(u->last_error().empty());
    }

    TEST_CASE("keepalive: a PINGREQ on an idle link, and a silent broker dropped") {
        bytes ping;
        auto t = fogbridge::make_core_transport();
        std::chrono::steady_clock::duration took{};
        {
            scripted_broker broker([&](scripted_broker& b) {
                b.receive_packet();
                b.send(connack_ok);
                ping = b.receive_packet();  // due after half the keepalive, 0.5 s
                b.receive(1);               // then silence until the client gives up
            });
            recorder events;
            t->set_events(&events);
            REQUIRE(t->connect(options(broker.port(), 1)).empty());
            const auto start = std::chrono::steady_clock::now();
            CHECK_FALSE(run_until(
                *t, [] { return false; }, 10000ms));
            took = std::chrono::steady_clock::now() - start;
            t->set_events(nullptr);
        }  // the broker's thread is joined here, so `ping` is read after its last write
        CHECK(ping == bytes{0xC0, 0x00});
        CHECK(t->last_error().find("keepalive timeout") == 0);
        CHECK(took >= 1400ms);
        CHECK(took < 5000ms);
    }

    TEST_CASE("a large message to a slow reader arrives whole (partial writes)") {
        const std::string payload(3 << 20, 'x');
        bytes got;
        scripted_broker broker([&](scripted_broker& b) {
            b.receive_packet();
            b.send(connack_ok);
            std::this_thread::sleep_for(200ms);  // the client's socket buffer fills meanwhile
            got = b.receive_packet();
            b.send({0x40, 0x02, got[got.size() - payload.size() - 2],
                    got[got.size() - payload.size() - 1]});
            b.receive(1);
        });
        auto t = fogbridge::make_core_transport();
        recorder events;
        t->set_events(&events);
        REQUIRE(t->connect(options(broker.port())).empty());
        REQUIRE(run_until(*t, [&] { return events.accepted.has_value(); }));
        REQUIRE(t->publish({"devices/board-1/readings", payload, 1, false}));
        CHECK(run_until(
            *t, [&] { return !events.published.empty(); }, 10000ms));
        REQUIRE(got.size() > payload.size());
        CHECK(std::string(got.end() - static_cast<long>(payload.size()), got.end()) == payload);
        t->disconnect();
        CHECK_FALSE(run_until(*t, [] { return false; }));
        CHECK(t->last_error() == "disconnected");
    }
}
