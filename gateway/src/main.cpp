// fogbridge: the gateway program. Wires the stages together and handles signals; nothing else.
#include <fmt/format.h>
#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <memory>

#include "batch/batch.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/config.hpp"
#include "health/health.hpp"
#include "ingest/local_link.hpp"
#include "ops/gateway_ops.hpp"
#include "ops/http_server.hpp"
#include "ops/metrics.hpp"
#include "ops/queue_report.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/processor.hpp"
#include "store/store.hpp"
#include "store/store_error.hpp"
#include "uplink/payloads.hpp"
#include "uplink/uplink.hpp"

namespace fogbridge {
namespace {

// Keys, passphrases and passwords live in this process's memory: no core dump may hold them. This
// also keeps other non-root processes from ptrace and /proc/PID/mem. True when it holds.
bool forbid_core_dumps() {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
}

// Left of the drain deadline for saying offline on the local broker after the uplink stopped.
constexpr auto offline_reserve = std::chrono::milliseconds(300);

double wall_now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

// Waits up to `seconds` for a control signal; 0 when none came.
int wait_signal(const sigset_t& set, double seconds) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(seconds);
    ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
    const int sig = sigtimedwait(&set, nullptr, &ts);
    return sig < 0 ? 0 : sig;
}

// A full or failing disk at start-up is waited out: the store opens once there is room again,
// and the boards keep their readings meanwhile. A damaged store or a bad path still stops the
// process. Null when a stop signal came first.
std::unique_ptr<store> open_store(const store_settings& settings, const sigset_t& signals) {
    double wait = 1.0;
    for (bool told = false;; told = true) {
        try {
            return std::make_unique<store>(settings);
        } catch (const store_error& e) {
            if (e.code() != store_errc::full && e.code() != store_errc::io) throw;
            if (!told) log::error("{}; retrying until the disk takes it", e.what());
        }
        const int sig = wait_signal(signals, wait);
        if (sig == SIGTERM || sig == SIGINT) return nullptr;
        wait = std::min(wait * 2, 30.0);
    }
}

std::filesystem::path health_file(const gateway_config& cfg) {
    return {cfg.store.path.string() + ".health"};
}

// The container HEALTHCHECK reads this file; written atomically so it is never half there.
void write_health_file(const gateway_config& cfg, const std::string& payload) {
    const auto path = health_file(cfg);
    const auto tmp = std::filesystem::path(path.string() + ".tmp");
    std::FILE* f = std::fopen(tmp.c_str(), "we");
    if (f == nullptr) return;
    const bool ok = std::fwrite(payload.data(), 1, payload.size(), f) == payload.size();
    if (std::fclose(f) == 0 && ok) {
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
    }
}

// Exit status for `--health-check`: 0 when the running gateway reported recently.
int health_check(const gateway_config& cfg) {
    std::error_code ec;
    const auto written = std::filesystem::last_write_time(health_file(cfg), ec);
    if (ec) {
        fmt::print(stderr, "fogbridge: unhealthy: no health report at {}\n",
                   health_file(cfg).string());
        return 1;
    }
    const auto age =
        std::chrono::duration<double>(std::filesystem::file_time_type::clock::now() - written)
            .count();
    if (age > 3 * cfg.health_interval) {
        fmt::print(stderr, "fogbridge: unhealthy: last health report {:.0f} s old\n", age);
        return 1;
    }
    fmt::print("fogbridge: healthy (last report {:.1f} s ago)\n", age);
    return 0;
}

void publish_health(const gateway_config& cfg, pipeline& pipe, uplink& up, store& st,
                    local_link& local, gateway_ops& ops, bool stopping = false) {
    const auto snap = pipe.snapshot();
    const auto ups = up.status();
    const auto qs = st.stats();
    const auto payload = health_payload(ops.sample(snap, ups, qs, stopping));
    local.publish(fmt::format("gateways/{}/health", cfg.id), payload,
                  {.qos = qos::at_least_once, .retain = retain::yes});
    up.send_urgent(upstream_stream::health, payload, retain::yes, urgent_kind::report);
    write_health_file(cfg, payload);
}

// How long the uplink may still wait for in-flight PUBACKs before `until`.
std::chrono::milliseconds puback_wait(std::chrono::steady_clock::time_point until) {
    using namespace std::chrono;
    const auto left = duration_cast<milliseconds>(until - steady_clock::now()) - offline_reserve;
    return std::max(left, milliseconds(0));
}

void reload(const std::string& path, pipeline& pipe) {
    try {
        auto fresh = load_config(path, process_env());
        pipe.reload_filter(std::move(fresh.filter));
    } catch (const std::exception& e) {
        log::error("reload refused, keeping the running configuration: {}", e.what());
    }
}

int run_gateway(const gateway_config& cfg, const std::string& path) {
    const double started = wall_now();
    const sigset_t signals = control_signals();
    // Block control signals in every thread; only the main loop takes them, with sigtimedwait.
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // A write to a connection the peer has closed is an error to handle, not a reason to die
    // (OpenSSL writes to its socket without MSG_NOSIGNAL).
    std::signal(SIGPIPE, SIG_IGN);

    store_settings store_cfg = cfg.store;
    store_cfg.reading_size = encoded_size;  // what a reading adds to a batch: max_bytes counts it
    const auto opened = open_store(store_cfg, signals);
    if (!opened) return 0;
    store& st = *opened;
    processor proc(cfg.id, cfg.validate, cfg.filter);
    proc.restore(st, wall_now());
    uplink up({cfg.cloud, cfg.batch, cfg.id}, st);
    gateway_ops ops(cfg, started);
    up.set_latency_recorder(&ops.puback_latency());
    std::atomic<pipeline*> sink{nullptr};
    local_link local(cfg.local, cfg.id, [&sink](std::vector<inbound_message>& arrived) {
        // Once draining, messages are left to the devices, which re-send what is not acknowledged.
        if (auto* p = sink.load()) p->push(arrived);
    });
    pipeline pipe(cfg.pipeline, proc, st, local, up);
    sink = &pipe;
    ops.watch_local(&local);

    std::unique_ptr<http_server> metrics;
    if (cfg.metrics_port > 0) {
        metrics = std::make_unique<http_server>(
            http_settings{cfg.metrics_listen, static_cast<std::uint16_t>(cfg.metrics_port)},
            http_handlers{
                [&] {
                    return render_metrics(ops.figures(pipe.snapshot(), up.status(), st.stats()));
                },
                [] { return true; }, [&] { return ops.problem(pipe.snapshot(), up.status()); }});
        metrics->start();
        log::info("metrics on http://{}:{}/metrics", cfg.metrics_listen, metrics->port());
    }
    up.start();
    pipe.start();
    local.start();
    const auto qs = st.stats();
    log::info("fogbridge {} started: gateway {}, store {} ({} readings queued)", version(), cfg.id,
              cfg.store.path.string(), qs.pending_readings + qs.leased_readings);

    for (;;) {
        const int sig = wait_signal(signals, cfg.health_interval);
        if (sig == SIGHUP) {
            log::info("SIGHUP: reloading filter rules from {} and the TLS credentials", path);
            reload(path, pipe);
            up.reload_credentials();
            local.reload_credentials();
        } else if (sig == SIGTERM || sig == SIGINT) {
            log::info("{}: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        publish_health(cfg, pipe, up, st, local, ops);
    }
    const auto drain_until =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::duration<double>(cfg.drain_timeout));
    sink = nullptr;
    if (metrics) metrics->stop();
    pipe.stop();
    publish_health(cfg, pipe, up, st, local, ops, true);
    up.stop(puback_wait(drain_until));
    local.stop();
    log::info("stopped; {}", describe_undelivered(st.stats()));
    return 0;
}

}  // namespace
}  // namespace fogbridge

namespace {

int run_main(int argc, char** argv) {
    using namespace fogbridge;
    // Before any secret is read.
    const bool no_core_dumps = forbid_core_dumps();
    cxxopts::Options options("fogbridge", "MQTT edge gateway: local broker -> store -> cloud");
    options.add_options()("c,config", "configuration file (TOML)", cxxopts::value<std::string>())(
        "check-config", "validate the configuration and exit")(
        "health-check", "exit 0 when the gateway using this configuration reported recently")(
        "queue",
        "show the store (depth, oldest, per device), read-only, also while the gateway runs")(
        "json", "with --queue: print JSON")("version", "print the version")("h,help",
                                                                            "show this help");
    try {
        const auto args = options.parse(argc, argv);
        if (args.count("help") != 0U) {
            fmt::print("{}\n", options.help());
            return 0;
        }
        if (args.count("version") != 0U) {
            fmt::print("fogbridge {}\n", version());
            return 0;
        }
        if (args.count("config") == 0U) {
            fmt::print(stderr, "fogbridge: --config FILE is required\n");
            return 2;
        }
        const auto path = args["config"].as<std::string>();
        const auto cfg = load_config(path, process_env());
        if (args.count("health-check") != 0U) return health_check(cfg);
        if (args.count("queue") != 0U) {
            return run_queue_report(cfg.store.path, args.count("json") != 0U, std::cout);
        }
        if (args.count("check-config") != 0U) {
            fmt::print("fogbridge: {} is valid\n", path);
            fmt::print("fogbridge: core dumps and ptrace by other users: {}\n",
                       no_core_dumps ? "off" : "NOT off");
            return 0;
        }
        log::level lvl{};
        log::parse_level(cfg.log_level, lvl);
        log::set_level(lvl);
        if (!cfg.log_file.empty()) log::set_file(cfg.log_file);
        if (!no_core_dumps) {
            log::warn("prctl(PR_SET_DUMPABLE, 0) failed: a core dump may hold secrets");
        }
        return run_gateway(cfg, path);
    } catch (const config_error& e) {
        fmt::print(stderr, "fogbridge: configuration: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "fogbridge: {}\n", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Whatever escapes (the option table, a failed report) ends with a line and exit 1, not abort.
    try {
        return run_main(argc, argv);
    } catch (...) {
        std::fputs("fogbridge: unexpected error\n", stderr);
        return 1;
    }
}
