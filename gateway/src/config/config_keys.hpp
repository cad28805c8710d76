// The machinery behind a configuration table, shared by the gateway and the sink: keys declared
// once (section, name, help, destination, range), read from TOML and from environment variables,
// every error one line that names the key. Not thread-safe.
#pragma once

#include <toml++/toml.h>

#include <cstddef>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fogbridge {

class config_error final : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using env_map = std::map<std::string, std::string>;

// One key of a table; its default is the destination's value before reading.
struct config_key {
    std::string_view section;
    std::string_view name;
    std::string_view help;
    std::variant<std::string*, int*, double*, bool*, std::size_t*> dest;
    double min = 0;
    double max = std::numeric_limits<double>::max();
};

// How a program's keys are named outside the file.
struct key_scheme {
    // Environment variables are <env_prefix><SECTION>_<KEY>, e.g. FOGBRIDGE_CLOUD_HOST.
    std::string_view env_prefix;
    // Sections the file may hold that are read elsewhere (e.g. the gateway's filter rules).
    std::vector<std::string_view> other_sections;
    // true: every variable under env_prefix must name a key; false: only those that start with a
    // known section do (others belong to other programs sharing the prefix).
    bool env_prefix_is_ours = false;
};

// Parses TOML text; a syntax error is one line with the origin and the line number.
toml::table parse_toml(std::string_view text, std::string_view origin);

// The whole file; config_error when it cannot be read.
std::string read_config_file(const std::filesystem::path& path);

// The process's variables that start with `prefix`.
env_map environment_with_prefix(std::string_view prefix);

// Applies `env` over `root`, then reads every key of `root` into its destination, checking type
// and range. Throws config_error naming the key (or variable) and, for the file, its line.
void read_keys(toml::table& root, const std::vector<config_key>& keys, const env_map& env,
               const key_scheme& scheme);

// The destination's value as TOML would write it ("text", true, 5).
std::string default_text(const config_key& k);

}  // namespace fogbridge
