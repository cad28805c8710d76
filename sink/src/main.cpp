// fogbridge-sink: batches from the cloud broker into PostgreSQL exactly once. Reads the
// configuration, handles signals, serves /metrics and runs the loop or the audit.
#include <fmt/format.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <cxxopts.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/tls_context.hpp"
#include "ops/http_server.hpp"
#include "sink_config.hpp"
#include "sink_loop.hpp"
#include "sink_metrics.hpp"
#include "sink_schema.hpp"
#include "sink_store.hpp"

namespace fogbridge::sink {
namespace {

void check_files(const config& c) {
    if (c.mqtt.ca_file.empty()) return;
    tls_settings t;
    t.ca_file = c.mqtt.ca_file;
    t.cert_file = c.mqtt.cert_file;
    t.key_file = c.mqtt.key_file;
    const tls_context check(t, c.mqtt.host, static_cast<double>(std::time(nullptr)));
}

int run_audit(const config& c, bool as_json) {
    pg_connection db(c.database.conninfo);
    migrate(db, c.database.schema);
    const audit_report r = audit(db, c.database.schema);
    if (as_json) {
        nlohmann::json runs = nlohmann::json::array();
        for (const auto& m : r.runs) runs.push_back({m.device, m.boot, m.first, m.last});
        std::cout << nlohmann::json{{"delivered", r.delivered},
                                    {"dropped", r.dropped},
                                    {"missing", r.missing},
                                    {"devices", r.devices},
                                    {"missing_runs", runs}}
                         .dump()
                  << "\n";
    } else {
        for (const auto& m : r.runs) {
            std::cout << fmt::format("missing {} boot {} seq {}..{}\n", m.device, m.boot, m.first,
                                     m.last);
        }
        std::cout << fmt::format("delivered {}\ndropped {}\nmissing {}\n", r.delivered, r.dropped,
                                 r.missing);
    }
    return r.missing == 0 ? 0 : 1;
}

int run_service(const config& c) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
    std::signal(SIGPIPE, SIG_IGN);
    const int stop_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (stop_fd < 0) throw std::runtime_error("signalfd failed");
    sink_metrics metrics;
    std::unique_ptr<http_server> http;
    if (c.metrics.enabled) {
        http_settings h;
        h.address = c.metrics.address;
        h.port = static_cast<std::uint16_t>(c.metrics.port);
        http = std::make_unique<http_server>(
            h, http_handlers{[&metrics] { return metrics.render(sink_metrics::clock::now()); },
                             [] { return true; },
                             {}});
        http->start();
        log::info("metrics on http://{}:{}/metrics", c.metrics.address, http->port());
    }
    const int status = run_sink(c, metrics, stop_fd);
    if (http) http->stop();
    ::close(stop_fd);
    return status;
}

}  // namespace
}  // namespace fogbridge::sink

int main(int argc, char** argv) {
    using namespace fogbridge;
    try {
        // Inside the try: cxxopts throws on a malformed option spec too.
        cxxopts::Options opts("fogbridge-sink",
                              "Writes fogbridge batches from the cloud broker into PostgreSQL");
        opts.add_options()(
            "c,config", "configuration file",
            cxxopts::value<std::string>()->default_value("/etc/fogbridge/fogbridge-sink.toml"))(
            "check-config", "check the configuration and files, then exit")(
            "audit", "list the seq runs neither delivered, filtered nor dropped, then exit")(
            "json", "with --audit: one JSON object")("h,help", "this help");
        const auto args = opts.parse(argc, argv);
        if (args.count("help") != 0) {
            std::cout << opts.help() << "\n";
            return 0;
        }
        const auto cfg = sink::load_config(args["config"].as<std::string>(), sink::process_env());
        log::level level = log::level::info;
        log::parse_level(cfg.sink.log_level, level);
        log::set_level(level);
        if (args.count("check-config") != 0) {
            sink::check_files(cfg);
            std::cout << "configuration ok\n";
            return 0;
        }
        if (args.count("audit") != 0) return sink::run_audit(cfg, args.count("json") != 0);
        return sink::run_service(cfg);
    } catch (const std::exception& e) {
        std::cerr << "fogbridge-sink: " << e.what() << "\n";
        return 1;
    }
}
