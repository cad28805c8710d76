// bench-drain-true: the fastest QoS 1 subscriber the gateway's own MQTT client allows, the
// ceiling of drain_ratio_true. Built on gateway/src/ingest (stream_socket, mqtt_session), it
// reads whatever the socket holds in one read, feeds it to the session, and writes the PUBACKs
// of that burst together; nothing else is done per message. Persistent session, like bench-drain;
// exits when N arrived or the stream went idle, printing one JSON line.
#include <fmt/format.h>
#include <poll.h>
#include <sys/resource.h>

#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "ingest/mqtt_session.hpp"
#include "ingest/stream_socket.hpp"
#include "tool_common.hpp"

namespace {

using fogbridge::mqtt_session;
using fogbridge::stream_socket;
using clock_type = stream_socket::clock;

struct options {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string client_id = "bench-drain";
    std::string topic = "devices/+/readings";
    std::uint64_t count = 0;
    double idle = 5;
    bool subscribe_only = false;
};

options parse(int argc, char** argv) {
    cxxopts::Options spec("bench-drain-true", "QoS 1 subscriber on the gateway's MQTT client");
    spec.add_options()("host", "broker host",
                       cxxopts::value<std::string>()->default_value("127.0.0.1"))(
        "port", "broker port (plain TCP)", cxxopts::value<int>()->default_value("1883"))(
        "client-id", "MQTT client id", cxxopts::value<std::string>()->default_value("bench-drain"))(
        "topic", "topic filter",
        cxxopts::value<std::string>()->default_value("devices/+/readings"))(
        "count", "exit once N messages arrived (0: on idle or signal)",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "idle", "exit after this many seconds without a message (0: never)",
        cxxopts::value<double>()->default_value("5"))(
        "subscribe-only", "make the persistent session, then leave")("h,help", "help");
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0U) {
        fmt::print("{}\n", spec.help());
        std::exit(0);
    }
    options o;
    o.host = r["host"].as<std::string>();
    o.port = r["port"].as<int>();
    o.client_id = r["client-id"].as<std::string>();
    o.topic = r["topic"].as<std::string>();
    o.count = r["count"].as<std::uint64_t>();
    o.idle = r["idle"].as<double>();
    o.subscribe_only = r.count("subscribe-only") != 0U;
    return o;
}

// Writes everything the session has queued; what failed, if anything.
fogbridge::net_error flush(stream_socket& sock, mqtt_session& session) {
    while (!session.output().empty()) {
        const auto& out = session.output();
        const auto w = sock.write(out.data(), out.size());
        if (w.error) return w.error;
        if (w.bytes == 0) {
            fogbridge::wait_ready(sock.fd(), POLLOUT, clock_type::now() + std::chrono::seconds(5),
                                  -1);
            continue;
        }
        session.sent(w.bytes, clock_type::now());
    }
    return {};
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-drain-true: {}\n", e.what());
        return 2;
    }
    bench::install_stop_handlers();
    mqtt_session::settings st;
    st.connect.client_id = o.client_id;
    st.connect.clean_session = false;
    st.connect.keepalive = 60;
    st.connect.will_topic.clear();
    st.subscriptions = {o.topic};
    st.max_packet_bytes = std::size_t{1} << 20U;
    mqtt_session session(st);
    stream_socket sock;
    const double t_start = bench::wall_now();
    const auto why =
        sock.open(o.host, o.port, nullptr, clock_type::now() + std::chrono::seconds(10), -1);
    if (why) {
        fmt::print(stderr, "bench-drain-true: cannot connect to {}:{}: {}\n", o.host, o.port,
                   why.text());
        return 1;
    }
    session.open(clock_type::now());
    std::string in;
    std::vector<char> buf(std::size_t{1} << 20U);
    std::vector<fogbridge::inbound_message> arrived;
    std::uint64_t count = 0;
    double t_first = 0;
    double t_last = 0;
    try {
        while (!bench::stop_requested.load()) {
            if (const auto err = flush(sock, session)) {
                fmt::print(stderr, "bench-drain-true: connection lost ({})\n", err.text());
                break;
            }
            if (o.subscribe_only && session.subscribed()) break;
            if (o.count > 0 && count >= o.count) break;
            const double now = bench::wall_now();
            if (o.idle > 0 && count > 0 && now - t_last > o.idle) break;
            if (!sock.pending() &&
                !fogbridge::wait_ready(sock.fd(), POLLIN,
                                       clock_type::now() + std::chrono::milliseconds(100), -1)) {
                continue;
            }
            const auto r = sock.read(buf.data(), buf.size());
            if (r.error) {
                fmt::print(stderr, "bench-drain-true: connection lost ({})\n", r.error.text());
                break;
            }
            in.append(buf.data(), r.bytes);
            const auto fed = session.feed(in, clock_type::now(), &arrived);
            in.erase(0, fed.used);
            arrived.clear();
            if (fed.error) {
                fmt::print(stderr, "bench-drain-true: {}\n", fed.error.text());
                return 1;
            }
            if (fed.messages > 0) {
                if (count == 0) t_first = bench::wall_now();
                count += fed.messages;
                t_last = bench::wall_now();
            }
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-drain-true: {}\n", e.what());
        return 1;
    }
    session.disconnect();
    (void)flush(sock, session);
    const double span = t_last - t_start;
    const double steady = t_last - t_first;
    fmt::print(
        "{{\"count\":{},\"t_start\":{:.6f},\"t_first\":{:.6f},\"t_last\":{:.6f},\"rate\":{:.1f},"
        "\"rate_steady\":{:.1f},\"cpu_s\":{:.3f}}}\n",
        count, t_start, t_first, t_last, span > 0 ? static_cast<double>(count) / span : 0.0,
        steady > 0 ? static_cast<double>(count - 1) / steady : 0.0, cpu_seconds());
    return 0;
}
