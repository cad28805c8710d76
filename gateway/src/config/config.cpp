#include "config/config.hpp"

#include <fmt/format.h>

#include "config/cloud_profile.hpp"
#include "config/rules.hpp"
#include "validate/topic.hpp"

namespace fogbridge {
namespace {

// A PUBLISH's fixed header, topic (devices/<64-byte id>/readings) and packet id at most.
constexpr std::size_t local_packet_overhead = 256;

// Hardware keys, secrets from files, revocation and a client CA of its own (docs/hardware-keys.md).
void add_tls_files(std::vector<config_key>& b, std::string_view s, tls_settings& t) {
    b.push_back({s, "key_passphrase_file",
                 "file whose first line is the key's passphrase (instead of key_passphrase)",
                 &t.key_passphrase_file});
    b.push_back({s, "key_pin_file",
                 "file whose first line is the PIN of a pkcs11: key or the TPM key's "
                 "authorization",
                 &t.key_pin_file});
    b.push_back({s, "pkcs11_module",
                 "PKCS#11 module of a pkcs11: key_file (default: p11-kit-proxy)",
                 &t.pkcs11_module});
    b.push_back({s, "crl_file", "CRLs (PEM) the broker's certificate chain is checked against",
                 &t.crl_file});
    b.push_back({s, "client_ca_file",
                 "CA file that vouches for our client certificate (default: ca_file)",
                 &t.client_ca_file});
}

void add_endpoint(std::vector<config_key>& b, std::string_view s, endpoint_settings& e) {
    b.push_back({s, "host", "broker host name or address", &e.host});
    b.push_back({s, "port", "broker port", &e.port, 1, 65535});
    b.push_back(
        {s, "client_id",
         "MQTT client id (default: the subject of cert_file on the local link, e.g. CN=gw-01, "
         "which the shipped local broker imposes; else fogbridge-<gateway.id>)",
         &e.client_id});
    b.push_back({s, "username", "MQTT user name (optional)", &e.username});
    b.push_back({s, "password", "MQTT password (optional; never logged)", &e.password});
    b.push_back({s, "keepalive", "MQTT keepalive in seconds", &e.keepalive, 5, 3600});
    b.push_back({s, "ca_file", "CA certificate file (TLS); required unless plain_tcp = true",
                 &e.tls.ca_file});
    b.push_back(
        {s, "plain_tcp", "true: connect without TLS (ca_file must then be empty)", &e.plain_tcp});
    b.push_back({s, "cert_file", "client certificate file (mutual TLS)", &e.tls.cert_file});
    b.push_back({s, "key_file", "client private key file", &e.tls.key_file});
    b.push_back(
        {s, "key_passphrase", "passphrase of the key file (never logged)", &e.tls.key_passphrase});
    b.push_back({s, "verify_hostname", "check the broker certificate names the host",
                 &e.tls.verify_hostname});
    b.push_back({s, "alpn", "TLS ALPN protocol to offer, e.g. mqtt (optional)", &e.tls.alpn});
    add_tls_files(b, s, e.tls);
}

// The cloud's profile and what it sets (docs/clouds.md); 0 or "" takes the profile's value.
void add_cloud_profile(std::vector<config_key>& b, cloud_settings& c) {
    b.push_back({"cloud", "profile",
                 "generic, aws-iot-core, azure-iot-hub, azure-event-grid, hivemq or emqx",
                 &c.profile});
    b.push_back({"cloud", "max_message_bytes",
                 "payload bytes of one PUBLISH at most, MQTT 5 or not; 0 = the profile's limit",
                 &c.max_message_bytes, 0, 268435455});
    b.push_back({"cloud", "publish_rate",
                 "publishes per second at most; 0 = the profile's limit (none for generic)",
                 &c.publish_rate, 0, 1e6});
    b.push_back({"cloud", "retain",
                 "status and health retained: \"auto\" (where the profile allows), \"true\", "
                 "\"false\"",
                 &c.retain});
    for (std::size_t i = 0; i < c.topics.size(); ++i) {
        b.push_back({"cloud.topics", to_string(static_cast<upstream_stream>(i)),
                     "topic template: {prefix}, {gateway}, {device}, {stream}; \"\" = the "
                     "profile's",
                     &c.topics.at(i)});
    }
}

// Every key the file accepts, declared once; defaults are the members' initial values.
// Keys read as text that finish() turns into their types; named, so they cannot trade places.
struct text_keys {
    std::string mqtt_version;  // "" = the cloud profile's
    std::string sync = "full";
    std::string store_path;
    std::string policy = "drop_oldest";
    std::string compression = "none";
};

std::vector<config_key> bindings(gateway_config& c, text_keys& text) {
    auto& [mqtt_version, sync, store_path, policy, compression_name] = text;
    std::vector<config_key> b;
    b.push_back({"gateway", "id", "gateway id; names its topics and batches", &c.id});
    b.push_back({"gateway", "log_level", "debug, info, warn, error or off", &c.log_level});
    b.push_back({"gateway", "log_file", "append logs to this file instead of stderr", &c.log_file});
    b.push_back({"gateway", "health_interval", "seconds between health reports", &c.health_interval,
                 0.1, 86400});
    b.push_back({"gateway", "drain_timeout",
                 "seconds from SIGTERM to exit at most; what is left after the pipeline "
                 "drained waits for in-flight PUBACKs",
                 &c.drain_timeout, 0.5, 3600});
    b.push_back(
        {"metrics", "listen", "address of the Prometheus /metrics endpoint", &c.metrics_listen});
    b.push_back({"metrics", "port", "port of the /metrics endpoint; 0 = off (9464 is customary)",
                 &c.metrics_port, 0, 65535});
    b.push_back({"metrics", "stuck_after",
                 "seconds a stage may have work waiting and make no progress before /healthz "
                 "answers 503 (ingest loop, pipeline, uplink PUBACKs); 0 = off",
                 &c.stuck_after, 0, 86400});
    add_endpoint(b, "local", c.local);
    b.push_back({"local", "max_packet_bytes",
                 "largest MQTT packet taken from the local broker, fixed header included; a "
                 "larger one is a protocol error that ends the connection before it is buffered",
                 &c.local.max_packet_bytes, 1024, 268435460});
    add_endpoint(b, "cloud", c.cloud.endpoint);
    b.push_back(
        {"cloud", "mqtt_version", R"("5" or "3.1.1" (default: the profile's))", &mqtt_version});
    b.push_back({"cloud", "topic_prefix", "prefix of every upstream topic", &c.cloud.topic_prefix});
    b.push_back({"cloud", "window", "batches in flight at once", &c.cloud.window, 1, 1024});
    b.push_back({"cloud", "reconnect_min", "first reconnect delay, seconds", &c.cloud.reconnect_min,
                 0.01, 3600});
    b.push_back({"cloud", "reconnect_max", "longest reconnect delay, seconds",
                 &c.cloud.reconnect_max, 0.01, 86400});
    b.push_back({"cloud", "connect_timeout", "seconds to wait for CONNACK",
                 &c.cloud.connect_timeout, 0.1, 600});
    b.push_back({"cloud", "puback_timeout",
                 "seconds a message in flight may wait for its PUBACK, from its "
                 "send; past it the connection is replaced and it goes again; 0 = off",
                 &c.cloud.puback_timeout, 0, 3600});
    b.push_back({"cloud", "cert_warn_days",
                 "warn when the client certificate expires within this "
                 "many days",
                 &c.cloud.cert_warn_days, 0, 3650});
    b.push_back(
        {"cloud", "compression",
         "\"none\" or \"zstd\" (a zstd frame is told from JSON by its magic bytes 28 B5 2F FD; "
         "MQTT 5 also announces it in a user property)",
         &compression_name});
    b.push_back({"cloud", "zstd_level", "zstd level, 1..19", &c.cloud.zstd_level, 1, 19});
    add_cloud_profile(b, c.cloud);
    b.push_back({"validate", "max_payload_bytes", "largest device payload, checked before parsing",
                 &c.validate.max_payload_bytes, 16, 16e6});
    b.push_back(
        {"validate", "max_depth", "deepest JSON nesting accepted", &c.validate.max_depth, 2, 64});
    b.push_back({"validate", "max_readings_per_message", "readings in one device message at most",
                 &c.validate.max_readings_per_message, 1, 1e6});
    b.push_back({"validate", "max_future_s", "how far ahead of the gateway clock a ts may be",
                 &c.validate.max_future_s, 0, 1e9});
    b.push_back({"validate", "max_past_s", "how far behind the gateway clock a ts may be",
                 &c.validate.max_past_s, 0, 1e10});
    b.push_back({"validate", "max_clock_skew_s",
                 "a ts before 2020 or further than this from the gateway clock is mapped "
                 "from the reading's \"up\" (seconds since boot) when it has one",
                 &c.validate.max_clock_skew_s, 1, 1e10});
    b.push_back({"validate", "rejects_per_s",
                 "rejects a device may publish on the rejects topic per second (0 = no limit)",
                 &c.validate.rejects_per_s, 0, 1e6});
    b.push_back({"validate", "rejects_burst", "rejects a device may publish at once",
                 &c.validate.rejects_burst, 1, 1e6});
    b.push_back({"validate", "max_series_per_device",
                 "sensor names a device may have; readings of more are rejected (series_limit; "
                 "0 = no limit)",
                 &c.validate.max_series_per_device, 0, 1e7});
    b.push_back({"validate", "max_boots_per_device",
                 "boots of a device tracked at once; readings of more are rejected (boot_limit; "
                 "0 = no limit)",
                 &c.validate.max_boots_per_device, 0, 1e6});
    b.push_back({"validate", "boot_idle_s",
                 "seconds a device's least recently seen boot must be quiet before a new boot "
                 "takes its place",
                 &c.validate.boot_idle_s, 0, 1e9});
    b.push_back({"validate", "alerts_per_s",
                 "alerts a device may send upstream per second; more are counted, not sent "
                 "(0 = no limit)",
                 &c.validate.alerts_per_s, 0, 1e6});
    b.push_back({"validate", "alerts_burst", "alerts a device may send upstream at once",
                 &c.validate.alerts_burst, 1, 1e6});
    b.push_back({"validate", "health_per_s",
                 "device health reports a device may send upstream per second; more are "
                 "counted, not sent (0 = no limit)",
                 &c.validate.health_per_s, 0, 1e6});
    b.push_back({"validate", "health_burst", "device health reports a device may send at once",
                 &c.validate.health_burst, 1, 1e6});
    b.push_back({"store", "path", "SQLite file of the queue", &store_path});
    b.push_back({"store", "synchronous",
                 R"("full" (survives power loss) or "normal" (survives a crash))", &sync});
    b.push_back({"store", "max_bytes", "bytes of readings held at most (0 = no limit)",
                 &c.store.max_bytes, 0, 1e15});
    b.push_back(
        {"store", "max_rows", "readings held at most (0 = no limit)", &c.store.max_rows, 0, 1e15});
    b.push_back({"store", "min_free_bytes",
                 "free disk space to keep where the store lives (0 = off)", &c.store.min_free_bytes,
                 0, 1e15});
    b.push_back({"store", "ttl_s", "drop pending readings older than this many seconds (0 = never)",
                 &c.store.ttl_s, 0, 1e10});
    b.push_back({"store", "prune_after_s",
                 "forget the progress of a device boot idle this many seconds (0 = never)",
                 &c.store.prune_after_s, 0, 1e10});
    b.push_back({"store", "policy",
                 "when a limit is hit: \"drop_oldest\" (gap records upstream) or "
                 "\"reject_new\" (stop acknowledging; devices buffer)",
                 &policy});
    b.push_back(
        {"batch", "max_readings", "readings per batch at most", &c.batch.max_readings, 1, 1e6});
    b.push_back(
        {"batch", "max_bytes", "batch payload bytes at most", &c.batch.max_bytes, 256, 256e6});
    b.push_back({"batch", "max_delay", "seconds a reading may wait for its batch",
                 &c.batch.max_delay, 0.001, 3600});
    b.push_back({"batch", "replay_rate",
                 "readings per second the backlog drains at after an outage, beside live "
                 "batches; 0 = as fast as the window allows",
                 &c.batch.replay_rate, 0, 1e9});
    b.push_back({"batch", "layout",
                 "\"rows\" (an object per reading), \"columnar\" (per series, arrays) or "
                 "\"auto\": columnar when cloud.compression = \"zstd\", else rows",
                 &c.batch.layout});
    b.push_back({"pipeline", "queue_capacity", "messages held between ingest and the store",
                 &c.pipeline.queue_capacity, 1, 1e7});
    b.push_back({"pipeline", "max_group", "readings per store transaction at most",
                 &c.pipeline.max_group, 1, 1e6});
    b.push_back({"pipeline", "max_group_delay", "seconds a reading waits for its group commit",
                 &c.pipeline.max_group_delay, 0, 10});
    return b;
}

void check_endpoint(const endpoint_settings& e, std::string_view s, link_check links) {
    if (e.host.empty()) throw config_error(fmt::format("{}.host: must not be empty", s));
    const bool client_cert = !e.tls.cert_file.empty() || !e.tls.key_file.empty();
    if (client_cert && (e.tls.cert_file.empty() || e.tls.key_file.empty())) {
        throw config_error(fmt::format("{}.cert_file and {}.key_file must be set together", s, s));
    }
    if (client_cert && e.tls.ca_file.empty()) {
        throw config_error(fmt::format("{}.ca_file: required when a client certificate is set", s));
    }
    if (links == link_check::skipped) return;
    // Fail closed: an empty ca_file is a mistake unless the config asks for plain TCP in words.
    if (e.plain_tcp && !e.tls.ca_file.empty()) {
        throw config_error(
            fmt::format("{}.plain_tcp: true, but {}.ca_file is set; choose one", s, s));
    }
    if (!e.plain_tcp && e.tls.ca_file.empty()) {
        throw config_error(
            fmt::format("{}.ca_file: must name the broker's CA file (for an unencrypted link set "
                        "{}.plain_tcp = true)",
                        s, s));
    }
}

void check_tls_files(tls_settings& t, std::string_view s) {
    t.section = s;
    if (!t.key_passphrase.empty() && !t.key_passphrase_file.empty()) {
        throw config_error(
            fmt::format("{}.key_passphrase_file: set {}.key_passphrase or this, not both", s, s));
    }
}

// cloud.compression, parsed once: the uplink and the batch code use the enum.
compression compression_named(const std::string& name) {
    if (name == "none") return compression::none;
    if (name == "zstd") return compression::zstd;
    throw config_error(fmt::format(R"(cloud.compression: '{}' is not "none" or "zstd")", name));
}

void finish(gateway_config& c, const text_keys& text, link_check links) {
    const auto& [mqtt_version, sync, store_path, policy, compression_name] = text;
    if (policy == "drop_oldest") {
        c.store.policy = store_policy::drop_oldest;
    } else if (policy == "reject_new") {
        c.store.policy = store_policy::reject_new;
    } else {
        throw config_error(
            fmt::format(R"(store.policy: '{}' is not "drop_oldest" or "reject_new")", policy));
    }
    if (!valid_id(c.id)) {
        throw config_error(
            fmt::format("gateway.id: '{}' is not a valid id ([A-Za-z0-9_.:-], 1..64)", c.id));
    }
    log::level lvl{};
    if (!log::parse_level(c.log_level, lvl)) {
        throw config_error(fmt::format(
            "gateway.log_level: '{}' is not one of debug, info, warn, error, off", c.log_level));
    }
    if (mqtt_version == "5") {
        c.cloud.mqtt_version = 5;
    } else if (mqtt_version == "3.1.1") {
        c.cloud.mqtt_version = 4;
    } else {
        throw config_error(
            fmt::format(R"(cloud.mqtt_version: '{}' is not "5" or "3.1.1")", mqtt_version));
    }
    if (sync == "full") {
        c.store.synchronous = sync_mode::full;
    } else if (sync == "normal") {
        c.store.synchronous = sync_mode::normal;
    } else {
        throw config_error(
            fmt::format(R"(store.synchronous: '{}' is not "full" or "normal")", sync));
    }
    if (store_path.empty()) throw config_error("store.path: must not be empty");
    c.store.path = store_path;
    if (c.batch.layout == "auto") {
        c.batch.layout = c.cloud.compression == compression::zstd ? "columnar" : "rows";
    }
    if (c.batch.layout != "rows" && c.batch.layout != "columnar") {
        throw config_error(fmt::format(R"(batch.layout: '{}' is not "rows", "columnar" or "auto")",
                                       c.batch.layout));
    }
    const auto group = static_cast<std::uint64_t>(c.pipeline.max_group);
    if (c.store.max_rows > 0 && c.store.max_rows < 2 * group) {
        throw config_error(fmt::format(
            "store.max_rows: {} is below 2 x pipeline.max_group ({}); a group could never fit",
            c.store.max_rows, 2 * group));
    }
    if (c.cloud.reconnect_max < c.cloud.reconnect_min) {
        throw config_error("cloud.reconnect_max: must not be below cloud.reconnect_min");
    }
    if (c.cloud.topic_prefix.empty() ||
        c.cloud.topic_prefix.find_first_of("+#") != std::string::npos) {
        throw config_error("cloud.topic_prefix: must be non-empty and hold no + or #");
    }
    check_endpoint(c.local, "local", links);
    if (c.local.max_packet_bytes < c.validate.max_payload_bytes + local_packet_overhead) {
        throw config_error(fmt::format(
            "local.max_packet_bytes: {} is below validate.max_payload_bytes + {} ({}): a device "
            "message the gateway accepts could not reach it",
            c.local.max_packet_bytes, local_packet_overhead,
            c.validate.max_payload_bytes + local_packet_overhead));
    }
    check_endpoint(c.cloud.endpoint, "cloud", links);
    check_tls_files(c.local.tls, "local");
    check_tls_files(c.cloud.endpoint.tls, "cloud");
    if (c.cloud.endpoint.plain_tcp && links == link_check::required) {
        log::warn("cloud.plain_tcp = true: the uplink is plain TCP, not mutual TLS");
    }
    // With a client certificate the local link takes its client id from the certificate.
    if (c.local.client_id.empty() && c.local.tls.cert_file.empty()) {
        c.local.client_id = "fogbridge-" + c.id;
    }
}

// FOGBRIDGE_<SECTION>_<KEY>; the filter rules are read by rules.cpp; FOGBRIDGE_SINK_* is the
// sink's.
const key_scheme gateway_keys{"FOGBRIDGE_", {"filter"}, false};

}  // namespace

gateway_config parse_config(std::string_view toml_text, const env_map& env, std::string_view origin,
                            link_check links) {
    auto root = parse_toml(toml_text, origin);
    gateway_config c;
    text_keys text;
    text.store_path = c.store.path.string();
    read_keys(root, bindings(c, text), env, gateway_keys);
    c.cloud.compression = compression_named(text.compression);
    c.filter = read_filter_rules(root);
    if (auto problem = apply_cloud_profile(c, text.mqtt_version)) throw config_error(*problem);
    finish(c, text, links);
    if (auto problem = check_cloud_profile(c)) throw config_error(*problem);
    return c;
}

gateway_config load_config(const std::filesystem::path& path, const env_map& env,
                           link_check links) {
    return parse_config(read_config_file(path), env, path.string(), links);
}

env_map process_env() { return environment_with_prefix("FOGBRIDGE_"); }

std::vector<key_doc> documented_keys() {
    gateway_config c;
    text_keys text;
    std::vector<key_doc> out;
    for (const auto& x : bindings(c, text)) {
        out.push_back({fmt::format("{}.{}", x.section, x.name), std::string(x.help)});
    }
    for (const auto& k : filter_rule_keys()) out.push_back({"filter.rules." + k.name, k.help});
    return out;
}

}  // namespace fogbridge
