// The gateway's configuration: one TOML file plus FOGBRIDGE_<SECTION>_<KEY> environment overrides.
// load_config() throws config_error with one line that names the key; not thread-safe.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "batch/policy.hpp"
#include "common/endpoint.hpp"
#include "common/log.hpp"
#include "config/config_keys.hpp"
#include "filter/significant_change_filter.hpp"
#include "pipeline/pipeline_settings.hpp"
#include "store/store.hpp"
#include "uplink/cloud_settings.hpp"
#include "validate/decode_settings.hpp"

namespace fogbridge {

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
