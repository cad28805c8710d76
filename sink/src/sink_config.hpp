// fogbridge-sink's configuration: every key declared once (default, one-line doc), read from TOML
// with FOGBRIDGE_SINK_<SECTION>_<KEY> environment overrides. Not thread-safe; read once at start.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_keys.hpp"

namespace fogbridge::sink {

using fogbridge::config_error;
using fogbridge::env_map;

struct mqtt_settings {
    std::string host = "127.0.0.1";
    int port = 8883;
    std::string client_id = "fogbridge-sink";
    int keepalive = 30;
    std::string prefix = "fogbridge";
    std::string share_group;  // empty: no shared subscription
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool verify_hostname = true;
    double connect_timeout = 10;
};

struct database_settings {
    std::string conninfo = "dbname=fogbridge";
    std::string schema = "fogbridge";
    double statement_timeout = 30;
};

struct sink_settings {
    std::string log_level = "info";
    std::size_t max_payload_bytes = std::size_t{16} << 20U;
    std::size_t max_readings = 100000;
    std::string device_owner = "first";  // first | any
    double reconnect_min = 0.2;
    double reconnect_max = 10;
    double drain_timeout = 10;
};

struct metrics_settings {
    bool enabled = true;
    std::string address = "127.0.0.1";
    int port = 9465;  // 0: a free port, logged
};

struct config {
    mqtt_settings mqtt;
    database_settings database;
    sink_settings sink;
    metrics_settings metrics;
};

// One declared key: "section.key", its default as TOML text and its one-line documentation.
struct key_doc {
    std::string name;
    std::string default_value;
    std::string help;
};
std::vector<key_doc> documented_keys();

env_map process_env();

// Throws config_error with one line naming the key (or the file) and what is wrong.
config parse_config(std::string_view toml_text, const env_map& env,
                    std::string_view origin = "config");
config load_config(const std::string& path, const env_map& env);

}  // namespace fogbridge::sink
