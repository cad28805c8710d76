// bench-fleet: thousands of boards on the local broker from one thread and one epoll loop
// (non-blocking sockets, no thread per connection), encoded with the gateway's own MQTT packet
// code (gateway/src/ingest/mqtt_wire). Each board publishes, at QoS 1 on devices/<id>/readings,
// one JSON array of readings (4 sensors x --per-message) every --interval seconds; the boards'
// connects are spread at --connect-rate and their phases evenly over the interval. --interval 0
// is flat out (--window messages in flight per board). Like the device SDK, a board keeps what it
// sent until the gateway's application ack (devices/<id>/ack) covers it and, at its slots,
// sends again what waited longer than --resend-after. Prints "progress <wall> <connected>
// <sent> <acked>" (readings; acked = by the broker) every --progress seconds and one JSON line.
#include "fleet.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <exception>
#include <string>

#include "tool_common.hpp"

using fleet_bench::fleet;
using fleet_bench::options;

namespace {

options parse(int argc, char** argv) {
    cxxopts::Options spec("bench-fleet", "many QoS 1 boards in one event loop");
    spec.add_options()("host", "broker IPv4 address",
                       cxxopts::value<std::string>()->default_value("127.0.0.1"))(
        "port", "broker port (plain TCP)", cxxopts::value<int>()->default_value("1883"))(
        "boards", "board connections", cxxopts::value<int>()->default_value("1000"))(
        "prefix", "board ids are <prefix>-NNNNN",
        cxxopts::value<std::string>()->default_value("board"))(
        "interval", "seconds between a board's messages (0: flat out)",
        cxxopts::value<double>()->default_value("10"))("per-message",
                                                       "readings per sensor in one message",
                                                       cxxopts::value<int>()->default_value("1"))(
        "count", "readings in all (0: until --duration or a signal)",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "duration", "seconds to publish (0: until --count or a signal)",
        cxxopts::value<double>()->default_value("0"))(
        "connect-rate", "connections opened per second",
        cxxopts::value<double>()->default_value("2000"))(
        "max-connecting", "connections waiting for CONNACK at most",
        cxxopts::value<int>()->default_value("128"))("window", "messages in flight per board",
                                                     cxxopts::value<int>()->default_value("1"))(
        "boot", "boot id of every board", cxxopts::value<std::uint64_t>()->default_value("1"))(
        "seed", "seed of the values", cxxopts::value<std::uint64_t>()->default_value("1"))(
        "step-scale", "scales the random walk's steps",
        cxxopts::value<double>()->default_value("1"))(
        "drain-timeout", "seconds to wait for PUBACKs at the end",
        cxxopts::value<double>()->default_value("30"))(
        "progress", "seconds between progress lines", cxxopts::value<double>()->default_value("1"))(
        "resend-after", "seconds without the gateway's ack before a re-send",
        cxxopts::value<double>()->default_value("10"))(
        "max-kept", "messages a board keeps for re-sending",
        cxxopts::value<std::size_t>()->default_value("64"))("h,help", "help");
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0U) {
        fmt::print("{}\n", spec.help());
        std::exit(0);
    }
    options o;
    o.host = r["host"].as<std::string>();
    o.port = r["port"].as<int>();
    o.boards = std::max(1, r["boards"].as<int>());
    o.prefix = r["prefix"].as<std::string>();
    o.interval = r["interval"].as<double>();
    o.per_message = std::max(1, r["per-message"].as<int>());
    o.count = r["count"].as<std::uint64_t>();
    o.duration = r["duration"].as<double>();
    o.connect_rate = r["connect-rate"].as<double>();
    o.max_connecting = std::max(1, r["max-connecting"].as<int>());
    o.window = std::max(1, r["window"].as<int>());
    o.boot = r["boot"].as<std::uint64_t>();
    o.seed = r["seed"].as<std::uint64_t>();
    o.step_scale = r["step-scale"].as<double>();
    o.drain_timeout = r["drain-timeout"].as<double>();
    o.progress = r["progress"].as<double>();
    o.resend_after = r["resend-after"].as<double>();
    o.max_kept = std::max<std::size_t>(1, r["max-kept"].as<std::size_t>());
    return o;
}

// One descriptor per board: lift the soft limit to the hard one (and the hard one as root).
void raise_fd_limit(int boards) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    const auto need = static_cast<rlim_t>(boards) + 64;
    if (lim.rlim_max < need) {
        rlimit wanted{need, need};
        if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) return;
    }
    lim.rlim_cur = std::max(lim.rlim_cur, std::min(need, lim.rlim_max));
    setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-fleet: {}\n", e.what());
        return 2;
    }
    bench::install_stop_handlers();
    raise_fd_limit(o.boards);
    try {
        fleet f(o);
        f.run();
        f.report();
        return f.ok() ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-fleet: {}\n", e.what());
        return 1;
    }
}
