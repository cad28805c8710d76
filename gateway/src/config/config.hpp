// The gateway's configuration: one TOML file plus FOGBRIDGE_<SECTION>_<KEY> environment overrides.
// load_config() throws config_error with one line that names the key; not thread-safe.
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "batch/policy.hpp"
#include "common/log.hpp"
#include "filter/significant_change_filter.hpp"
#include "store/store.hpp"
#include "validate/decode_settings.hpp"

namespace fogbridge {

class config_error final : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct tls_settings {
    std::string ca_file;    // required unless the endpoint says plain_tcp
    std::string cert_file;  // client certificate (mutual TLS)
    std::string key_file;
    std::string key_passphrase;
    bool verify_hostname = true;
    std::string alpn;  // e.g. "mqtt" for brokers that take MQTT on port 443

    // Hardware keys, secrets from files, revocation (docs/hardware-keys.md).
    std::string key_passphrase_file;  // the passphrase on the first line of this file
    std::string key_pin_file;         // PIN of a PKCS#11 token / TPM key authorization
    std::string pkcs11_module;        // PKCS#11 module for a pkcs11: key_file
    std::string crl_file;             // CRLs checked against the broker's chain
    std::string client_ca_file;       // the CA that vouches for our certificate (default: ca_file)
    std::string section;              // "local" or "cloud", for messages naming a key
};

struct endpoint_settings {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string client_id;  // default: derived from the gateway id
    std::string username;
    std::string password;
    int keepalive = 30;
    tls_settings tls;
    bool plain_tcp = false;  // no TLS: only when the config says so (ca_file must then be empty)
    std::size_t max_packet_bytes = 262144;  // local link only: largest MQTT packet taken
};

struct cloud_settings {
    endpoint_settings endpoint{"127.0.0.1", 8883, "", "", "", 30, {}, false};
    int mqtt_version = 5;  // 5 or 4 (3.1.1)
    std::string topic_prefix = "fogbridge";
    int window = 8;  // batches in flight
    double reconnect_min = 0.5;
    double reconnect_max = 30;
    double connect_timeout = 10;
    double puback_timeout = 30;
    double cert_warn_days = 30;  // warn when the client certificate expires sooner  // data in
                                 // flight and no PUBACK this long: reconnect
    std::string compression = "none";  // "none" or "zstd"
    int zstd_level = 3;

    // The cloud's profile (config/cloud_profile.hpp); what the file leaves empty or 0 comes from
    // it.
    std::string profile = "generic";
    std::size_t max_message_bytes = 0;  // payload bytes of one PUBLISH at most
    double publish_rate = 0;            // publishes per second at most; 0 = no limit
    std::string retain = "auto";        // status and health retained: "auto", "true", "false"
    bool retain_status = true;          // the outcome of `retain` and the profile
    std::array<std::string, 6> topics;  // templates, indexed by upstream_stream
};

struct pipeline_settings {
    int queue_capacity = 50000;      // inbound messages held between ingest and the pipeline
    int max_group = 2000;            // readings per store transaction at most
    double max_group_delay = 0.005;  // seconds a reading may wait for its group commit
};

struct gateway_config {
    std::string id = "gw-01";
    std::string log_level = "info";
    std::string log_file;  // empty: stderr
    double health_interval = 10;
    double drain_timeout = 10;  // seconds from SIGTERM to exit at most
    std::string metrics_listen = "127.0.0.1";
    int metrics_port = 0;     // 0: no /metrics endpoint
    double stuck_after = 60;  // seconds of no progress with work waiting before /healthz fails
    endpoint_settings local;
    cloud_settings cloud;
    decode_settings validate;
    store_settings store;
    batch_settings batch;
    filter_settings filter;
    pipeline_settings pipeline;
};

using env_map = std::map<std::string, std::string>;

// Whether the links' transport is checked: a tool that only reads the filter rules (filter-eval)
// takes a file without TLS settings.
enum class link_check { required, skipped };

// Reads the file, applies `env` overrides, checks every value. Throws config_error.
gateway_config load_config(const std::filesystem::path& path, const env_map& env,
                           link_check links = link_check::required);
// Same, from TOML text (tests; `origin` names it in messages).
gateway_config parse_config(std::string_view toml_text, const env_map& env,
                            std::string_view origin = "config",
                            link_check links = link_check::required);
// The process environment's FOGBRIDGE_* variables.
env_map process_env();

struct key_doc {
    std::string name;  // "section.key"
    std::string help;
};
// Every scalar key the file accepts, for documentation checks.
std::vector<key_doc> documented_keys();

}  // namespace fogbridge
