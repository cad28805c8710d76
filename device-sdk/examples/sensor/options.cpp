#include "options.hpp"

#include <cxxopts.hpp>
#include <iostream>
#include <stdexcept>

namespace fogbridge::sensor {
namespace {

cxxopts::Options make_options() {
    cxxopts::Options o("fogbridge-sensor",
                       "Example sensor board: publishes readings through the fogbridge device SDK");
    // clang-format off
    o.add_options("connection")
        ("id", "device id (required)", cxxopts::value<std::string>())
        ("host", "broker host", cxxopts::value<std::string>()->default_value("127.0.0.1"))
        ("port", "broker port (default 1883, 8883 with TLS)", cxxopts::value<int>())
        ("ca", "CA file: turns on TLS and verifies the broker", cxxopts::value<std::string>())
        ("cert", "device certificate (mutual TLS)", cxxopts::value<std::string>())
        ("key", "device key (mutual TLS)", cxxopts::value<std::string>())
        ("key-passphrase-file", "file whose first line is the passphrase of an encrypted --key",
         cxxopts::value<std::string>())
        ("boot-file", "persisted boot counter (default: random boot id)",
         cxxopts::value<std::string>())
        ("keepalive", "MQTT keepalive, seconds", cxxopts::value<int>()->default_value("30"));
    o.add_options("source")
        ("source", "simulated | replay | sysfs",
         cxxopts::value<std::string>()->default_value("simulated"))
        ("rate", "simulated: readings per second per sensor",
         cxxopts::value<double>()->default_value("1"))
        ("count", "stop after N readings in all (0: no limit)",
         cxxopts::value<std::uint64_t>()->default_value("0"))
        ("duration", "stop after S seconds (0: no limit)",
         cxxopts::value<double>()->default_value("0"))
        ("seed", "simulated: random seed", cxxopts::value<std::uint64_t>()->default_value("1"))
        ("file", "replay: recording to read", cxxopts::value<std::string>())
        ("format", "replay: auto | occupancy | airquality | csv",
         cxxopts::value<std::string>()->default_value("auto"))
        ("speed", "replay: time compression (0: as fast as the buffer allows)",
         cxxopts::value<double>()->default_value("1"))
        ("start-now", "replay: shift timestamps so the first sample is now")
        ("sysfs-root", "sysfs: root directory (also of class/power_supply for the battery)",
         cxxopts::value<std::string>()->default_value("/sys"))
        ("interval", "sysfs: seconds between samples",
         cxxopts::value<double>()->default_value("5"));
    o.add_options("delivery")
        ("alert", "local alert rule, e.g. temperature>30 or humidity<20:2 (hysteresis after "
                  "':'); repeatable", cxxopts::value<std::vector<std::string>>())
        ("buffer", "unacknowledged readings kept",
         cxxopts::value<std::size_t>()->default_value("10000"))
        ("buffer-file", "keep unacknowledged readings in this file (and segments beside it) so "
                        "they survive a restart or reboot",
         cxxopts::value<std::string>())
        ("buffer-fsync-ms", "buffer file: 0 fsyncs every reading; N at most one fsync per N ms "
                            "(less flash wear, a power loss may take the last N ms)",
         cxxopts::value<std::uint64_t>()->default_value("0"))
        ("buffer-max-bytes", "buffer file: bytes on disk at most",
         cxxopts::value<std::uint64_t>()->default_value("16777216"))
        ("journal", "append '<boot> <seq>' to this file for every reading the buffer took, as "
                    "it takes it (for audits: a boot killed before its summary line)",
         cxxopts::value<std::string>())
        ("max-in-flight", "sent but unacknowledged readings before pausing",
         cxxopts::value<std::size_t>()->default_value("1000"))
        ("per-message", "readings packed into one message at most",
         cxxopts::value<std::size_t>()->default_value("1"))
        ("resend-timeout", "seconds without ack progress before re-sending",
         cxxopts::value<double>()->default_value("10"))
        ("flush-timeout", "seconds to wait for acks at exit",
         cxxopts::value<double>()->default_value("5"))
        ("health-interval", "seconds between device health reports (0: none)",
         cxxopts::value<double>()->default_value("60"))
        ("clock-offset", "seconds added to every ts (a board whose clock is wrong)",
         cxxopts::value<double>()->default_value("0"))
        ("clock-step-after", "seconds after which the clock is set right (default: never)",
         cxxopts::value<double>()->default_value("-1"))
        ("verbose", "log every reading")
        ("h,help", "show this help");
    // clang-format on
    return o;
}

source_kind parse_source(const std::string& name) {
    if (name == "simulated") {
        return source_kind::simulated;
    }
    if (name == "replay") {
        return source_kind::replay;
    }
    if (name == "sysfs") {
        return source_kind::sysfs;
    }
    throw std::invalid_argument("--source must be simulated, replay or sysfs, not '" + name + "'");
}

void require(bool ok, const std::string& message) {
    if (!ok) {
        throw std::invalid_argument(message);
    }
}

template <class T>
void take(const cxxopts::ParseResult& r, const char* name, T& into) {
    if (r.count(name) > 0) {
        into = r[name].as<T>();
    }
}

}  // namespace

std::optional<sensor_options> parse_options(int argc, char** argv) {
    auto options = make_options();
    cxxopts::ParseResult r;
    try {
        r = options.parse(argc, argv);
    } catch (const cxxopts::exceptions::exception& e) {
        throw std::invalid_argument(e.what());
    }
    if (r.count("help") > 0) {
        std::cout << options.help({"connection", "source", "delivery"}) << '\n';
        return std::nullopt;
    }
    require(r.unmatched().empty(),
            "unexpected argument '" + (r.unmatched().empty() ? "" : r.unmatched().front()) + "'");
    sensor_options s;
    require(r.count("id") > 0, "--id is required");
    s.id = r["id"].as<std::string>();
    s.host = r["host"].as<std::string>();
    take(r, "ca", s.ca_file);
    take(r, "cert", s.cert_file);
    take(r, "key", s.key_file);
    take(r, "key-passphrase-file", s.key_passphrase_file);
    take(r, "boot-file", s.boot_file);
    s.port = s.ca_file.empty() ? 1883 : 8883;
    take(r, "port", s.port);
    s.keepalive = r["keepalive"].as<int>();
    s.source = parse_source(r["source"].as<std::string>());
    s.rate = r["rate"].as<double>();
    s.count = r["count"].as<std::uint64_t>();
    s.duration = r["duration"].as<double>();
    s.seed = r["seed"].as<std::uint64_t>();
    take(r, "file", s.file);
    const auto format = parse_recording_format(r["format"].as<std::string>());
    require(format.has_value(), "--format must be auto, occupancy, airquality or csv");
    s.format = *format;
    s.speed = r["speed"].as<double>();
    s.start_now = r.count("start-now") > 0;
    s.sysfs_root = r["sysfs-root"].as<std::string>();
    s.interval = r["interval"].as<double>();
    if (r.count("alert") > 0) {
        for (const auto& text : r["alert"].as<std::vector<std::string>>()) {
            const auto rule = parse_alert_rule(text);
            require(rule.has_value(), "--alert '" + text + "' is not like temperature>30[:0.5]");
            s.alerts.push_back(*rule);
        }
    }
    s.buffer = r["buffer"].as<std::size_t>();
    take(r, "buffer-file", s.buffer_file);
    s.buffer_fsync_ms = r["buffer-fsync-ms"].as<std::uint64_t>();
    s.buffer_max_bytes = r["buffer-max-bytes"].as<std::uint64_t>();
    take(r, "journal", s.journal);
    s.max_in_flight = r["max-in-flight"].as<std::size_t>();
    s.per_message = r["per-message"].as<std::size_t>();
    s.resend_timeout = r["resend-timeout"].as<double>();
    s.flush_timeout = r["flush-timeout"].as<double>();
    s.health_interval = r["health-interval"].as<double>();
    s.verbose = r.count("verbose") > 0;
    s.clock_offset = r["clock-offset"].as<double>();
    s.clock_step_after = r["clock-step-after"].as<double>();

    require(s.rate > 0, "--rate must be > 0");
    require(s.duration >= 0, "--duration must be >= 0");
    require(s.speed >= 0, "--speed must be >= 0");
    require(s.interval > 0, "--interval must be > 0");
    require(s.resend_timeout > 0, "--resend-timeout must be > 0");
    require(s.flush_timeout >= 0, "--flush-timeout must be >= 0");
    require(s.health_interval >= 0, "--health-interval must be >= 0");
    require(s.source != source_kind::replay || !s.file.empty(), "--source replay needs --file");
    require(s.buffer > 0, "--buffer must be > 0");
    return s;
}

}  // namespace fogbridge::sensor
