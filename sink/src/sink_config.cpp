#include "sink_config.hpp"

#include <fmt/format.h>

namespace fogbridge::sink {
namespace {

void add_mqtt(std::vector<config_key>& b, mqtt_settings& m) {
    b.push_back({"mqtt", "host", "cloud broker host name or address", &m.host});
    b.push_back({"mqtt", "port", "cloud broker port (mutual TLS)", &m.port, 1, 65535});
    b.push_back({"mqtt", "client_id",
                 "MQTT client id; its persistent session keeps what arrives while the sink is "
                 "away, so every sink needs its own",
                 &m.client_id});
    b.push_back({"mqtt", "keepalive", "MQTT keepalive in seconds", &m.keepalive, 5, 3600});
    b.push_back({"mqtt", "prefix", "topic prefix the gateways publish under", &m.prefix});
    b.push_back({"mqtt", "share_group",
                 "shared subscription group: sinks with the same group split the stream "
                 "($share/<group>/...); empty: every sink gets every message",
                 &m.share_group});
    b.push_back({"mqtt", "ca_file", "CA certificate file that signed the broker's", &m.ca_file});
    b.push_back({"mqtt", "cert_file", "client certificate file (mutual TLS)", &m.cert_file});
    b.push_back({"mqtt", "key_file", "client private key file", &m.key_file});
    b.push_back({"mqtt", "verify_hostname", "check the broker certificate names the host",
                 &m.verify_hostname});
    b.push_back({"mqtt", "connect_timeout", "seconds for TCP, TLS and CONNACK together",
                 &m.connect_timeout, 0.1, 600});
}

std::vector<config_key> bindings(config& c) {
    std::vector<config_key> b;
    add_mqtt(b, c.mqtt);
    auto& d = c.database;
    b.push_back({"database", "conninfo",
                 "libpq connection string (host=... port=... dbname=... user=...)", &d.conninfo});
    b.push_back(
        {"database", "schema", "PostgreSQL schema that holds the sink's tables", &d.schema});
    b.push_back({"database", "statement_timeout",
                 "seconds one statement may take before the transaction is abandoned and retried",
                 &d.statement_timeout, 0.1, 3600});
    auto& s = c.sink;
    b.push_back({"sink", "log_level", "debug, info, warn, error or off", &s.log_level});
    b.push_back({"sink", "max_payload_bytes",
                 "largest message accepted, after zstd inflation; larger ones are rejected",
                 &s.max_payload_bytes, 1024, 1U << 30U});
    b.push_back({"sink", "max_readings", "most readings one batch may carry; more are rejected",
                 &s.max_readings, 1, 10000000});
    b.push_back({"sink", "device_owner",
                 "first: the first gateway seen for a device owns it and other gateways' readings "
                 "of it are rejected; any: every gateway may write every device",
                 &s.device_owner});
    b.push_back({"sink", "reconnect_min", "seconds of the first reconnect delay (broker, database)",
                 &s.reconnect_min, 0.01, 60});
    b.push_back({"sink", "reconnect_max", "seconds the reconnect delay grows to at most",
                 &s.reconnect_max, 0.01, 3600});
    b.push_back({"sink", "drain_timeout",
                 "seconds from SIGTERM to exit at most, writing what has arrived", &s.drain_timeout,
                 0, 3600});
    auto& m = c.metrics;
    b.push_back({"metrics", "enabled", "serve GET /metrics and /healthz", &m.enabled});
    b.push_back({"metrics", "address", "address the metrics endpoint listens on", &m.address});
    b.push_back(
        {"metrics", "port", "metrics port; 0 picks a free one (logged)", &m.port, 0, 65535});
    return b;
}

void check(const config& c) {
    const auto& s = c.sink;
    if (s.device_owner != "first" && s.device_owner != "any") {
        throw config_error(R"(sink.device_owner: expected "first" or "any", got ")" +
                           s.device_owner + "\"");
    }
    if (s.reconnect_max < s.reconnect_min) {
        throw config_error("sink.reconnect_max: must not be below sink.reconnect_min");
    }
    const auto& l = s.log_level;
    if (l != "debug" && l != "info" && l != "warn" && l != "error" && l != "off") {
        throw config_error("sink.log_level: expected debug, info, warn, error or off, got \"" + l +
                           "\"");
    }
    if (c.mqtt.prefix.empty() || c.mqtt.prefix.find_first_of("+#") != std::string::npos) {
        throw config_error("mqtt.prefix: must be a non-empty topic without wildcards");
    }
    if (c.mqtt.share_group.find_first_of("/+#") != std::string::npos) {
        throw config_error("mqtt.share_group: must not contain '/', '+' or '#'");
    }
    if (c.mqtt.client_id.empty()) throw config_error("mqtt.client_id: must not be empty");
    if (c.mqtt.cert_file.empty() != c.mqtt.key_file.empty()) {
        throw config_error("mqtt.key_file: cert_file and key_file go together");
    }
    const auto& schema = c.database.schema;
    if (schema.empty() ||
        schema.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
        throw config_error("database.schema: expected lower-case letters, digits and '_'");
    }
}

// Every variable under FOGBRIDGE_SINK_ is the sink's.
const key_scheme sink_keys{"FOGBRIDGE_SINK_", {}, true};

}  // namespace

std::vector<key_doc> documented_keys() {
    config c;
    std::vector<key_doc> out;
    for (const auto& k : bindings(c)) {
        out.push_back(
            {fmt::format("{}.{}", k.section, k.name), default_text(k), std::string(k.help)});
    }
    return out;
}

env_map process_env() { return environment_with_prefix("FOGBRIDGE_SINK_"); }

config parse_config(std::string_view toml_text, const env_map& env, std::string_view origin) {
    auto root = parse_toml(toml_text, origin);
    config c;
    read_keys(root, bindings(c), env, sink_keys);
    check(c);
    return c;
}

config load_config(const std::string& path, const env_map& env) {
    return parse_config(read_config_file(path), env, path);
}

}  // namespace fogbridge::sink
