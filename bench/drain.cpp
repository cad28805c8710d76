// bench-drain: the bare libmosquitto subscriber that sets the ceiling. Connects with a persistent
// session, subscribes at QoS 1, counts messages and does nothing else with them; exits when N
// arrived or the stream went idle, printing one JSON line. --subscribe-only makes the session
// and leaves (to build a backlog); --ack acknowledges readings like the gateway would, so
// fogbridge-sensor can run against a broker that has no gateway (the bridge baseline).
#include <fmt/format.h>
#include <sys/resource.h>

#include <cxxopts.hpp>
#include <map>
#include <string>
#include <utility>

#include "tool_common.hpp"

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 1883;
    bench::tls_files tls;
    std::string client_id = "bench-drain";
    std::string topic = "devices/+/readings";
    bool clean = false;
    std::uint64_t count = 0;
    double idle = 5;
    bool subscribe_only = false;
    bool ack = false;
};

struct state {
    options o;
    std::uint64_t count = 0;
    double t_start = 0;
    double t_connected = 0;
    double t_first = 0;
    double t_last = 0;
    bool subscribed = false;
    bool session_present = false;
    int connect_rc = -1;
    bool done = false;
    // --ack: highest seq seen per (device, boot), and which ones changed since the last ack.
    std::map<std::pair<std::string, unsigned long long>, unsigned long long> progress;
    std::map<std::pair<std::string, unsigned long long>, bool> dirty;
};

// NOLINTNEXTLINE(bugprone-easily-swappable-parameters): libmosquitto's connect-with-flags callback
void on_connect(mosquitto* m, void* p, int rc, int flags) {
    auto* s = static_cast<state*>(p);
    s->connect_rc = rc;
    if (rc != 0) return;
    s->t_connected = bench::wall_now();
    s->session_present = (flags & 1) != 0;
    mosquitto_subscribe(m, nullptr, s->o.topic.c_str(), 1);
}

void on_subscribe(mosquitto* /*m*/, void* p, int /*mid*/, int /*n*/, const int* /*granted*/) {
    static_cast<state*>(p)->subscribed = true;
}

void note_ack(state& s, const mosquitto_message& msg) {
    // devices/<id>/readings
    const std::string_view topic(msg.topic);
    const std::string_view payload(static_cast<const char*>(msg.payload),
                                   static_cast<std::size_t>(msg.payloadlen));
    const auto a = topic.find('/');
    const auto b = topic.find('/', a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos) return;
    const std::string device(topic.substr(a + 1, b - a - 1));
    bench::for_each_reading(payload, [&](std::string_view obj) {
        const auto boot = bench::to_uint(bench::json_field(obj, "\"boot\""));
        const auto seq = bench::to_uint(bench::json_field(obj, "\"seq\""));
        if (!boot || !seq) return;
        auto& hi = s.progress[{device, *boot}];
        if (*seq > hi) {
            hi = *seq;
            s.dirty[{device, *boot}] = true;
        }
    });
}

void on_message(mosquitto* /*m*/, void* p, const mosquitto_message* msg) {
    auto* s = static_cast<state*>(p);
    const double now = bench::wall_now();
    if (s->count == 0) s->t_first = now;
    ++s->count;
    s->t_last = now;
    if (s->o.ack) {
        note_ack(*s, *msg);
    }
    if (s->o.count > 0 && s->count >= s->o.count) s->done = true;
}

void send_acks(mosquitto* m, state& s) {
    for (auto& [key, d] : s.dirty) {
        if (!d) continue;
        const auto payload = fmt::format(R"({{"boot":{},"seq":{}}})", key.second, s.progress[key]);
        const auto topic = fmt::format("devices/{}/ack", key.first);
        mosquitto_publish(m, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                          payload.data(), 1, false);
        d = false;
    }
}

options parse(int argc, char** argv) {
    cxxopts::Options spec("bench-drain", "bare QoS 1 subscriber: counts messages, nothing else");
    spec.add_options()("host", "broker host",
                       cxxopts::value<std::string>()->default_value("127.0.0.1"))(
        "port", "broker port", cxxopts::value<int>()->default_value("1883"))(
        "ca", "CA file (turns on TLS)", cxxopts::value<std::string>()->default_value(""))(
        "cert", "client certificate", cxxopts::value<std::string>()->default_value(""))(
        "key", "client key", cxxopts::value<std::string>()->default_value(""))(
        "client-id", "MQTT client id", cxxopts::value<std::string>()->default_value("bench-drain"))(
        "topic", "topic filter",
        cxxopts::value<std::string>()->default_value("devices/+/readings"))(
        "clean", "clean session instead of a persistent one")(
        "count", "exit after N messages (0: on idle or signal)",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "idle", "exit after S seconds without a message (once one came; 0: never)",
        cxxopts::value<double>()->default_value("5"))(
        "subscribe-only", "make the session and subscription, then leave")(
        "ack", "acknowledge readings on devices/<id>/ack like the gateway")("h,help", "help");
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0U) {
        fmt::print("{}\n", spec.help());
        std::exit(0);
    }
    options o;
    o.host = r["host"].as<std::string>();
    o.port = r["port"].as<int>();
    o.tls = {r["ca"].as<std::string>(), r["cert"].as<std::string>(), r["key"].as<std::string>()};
    o.client_id = r["client-id"].as<std::string>();
    o.topic = r["topic"].as<std::string>();
    o.clean = r.count("clean") != 0U;
    o.count = r["count"].as<std::uint64_t>();
    o.idle = r["idle"].as<double>();
    o.subscribe_only = r.count("subscribe-only") != 0U;
    o.ack = r.count("ack") != 0U;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    state s;
    try {
        s.o = parse(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-drain: {}\n", e.what());
        return 2;
    }
    bench::install_stop_handlers();
    mosquitto_lib_init();
    mosquitto* m = mosquitto_new(s.o.client_id.c_str(), s.o.clean, &s);
    mosquitto_connect_with_flags_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_max_inflight_messages_set(m, 0);
    try {
        bench::apply_tls(m, s.o.tls);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-drain: {}\n", e.what());
        return 2;
    }
    s.t_start = bench::wall_now();
    if (mosquitto_connect(m, s.o.host.c_str(), s.o.port, 60) != MOSQ_ERR_SUCCESS) {
        fmt::print(stderr, "bench-drain: cannot connect to {}:{}\n", s.o.host, s.o.port);
        return 1;
    }
    double last_ack = 0;
    double idle_from = s.t_start;
    while (!s.done && !bench::stop_requested.load()) {
        const int rc = mosquitto_loop(m, s.o.ack ? 10 : 100, 1);
        const double now = bench::wall_now();
        if (rc != MOSQ_ERR_SUCCESS) {
            fmt::print(stderr, "bench-drain: connection lost ({})\n", mosquitto_strerror(rc));
            break;
        }
        if (s.connect_rc > 0) {
            fmt::print(stderr, "bench-drain: refused ({})\n",
                       mosquitto_connack_string(s.connect_rc));
            return 1;
        }
        if (s.o.subscribe_only && s.subscribed) break;
        if (s.o.ack && now - last_ack >= 0.02) {
            send_acks(m, s);
            last_ack = now;
        }
        const double since = s.count > 0 ? s.t_last : idle_from;
        if (s.o.idle > 0 && s.count > 0 && now - since > s.o.idle) break;
    }
    if (s.o.ack) send_acks(m, s);
    mosquitto_disconnect(m);
    mosquitto_loop(m, 50, 1);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    const double span = s.t_last - s.t_start;
    const double steady = s.t_last - s.t_first;
    fmt::print(
        "{{\"count\":{},\"session_present\":{},\"t_start\":{:.6f},\"t_connected\":{:.6f},"
        "\"t_first\":{:.6f},\"t_last\":{:.6f},\"rate\":{:.1f},\"rate_steady\":{:.1f},\"cpu_s\":{:."
        "3f}}}\n",
        s.count, s.session_present, s.t_start, s.t_connected, s.t_first, s.t_last,
        span > 0 ? static_cast<double>(s.count) / span : 0.0,
        steady > 0 ? static_cast<double>(s.count - 1) / steady : 0.0, cpu_s);
    std::fflush(stdout);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
