#include "sink_config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <variant>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace fogbridge::sink {
namespace {

using target = std::variant<std::string*, int*, double*, bool*, std::size_t*>;

struct binding {
    std::string_view section;
    std::string_view key;
    std::string_view help;
    target dest;
    double min = 0;
    double max = std::numeric_limits<double>::max();
};

void add_mqtt(std::vector<binding>& b, mqtt_settings& m) {
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

std::vector<binding> bindings(config& c) {
    std::vector<binding> b;
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

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

std::string env_name(const binding& b) {
    return "FOGBRIDGE_SINK_" + upper(b.section) + "_" + upper(b.key);
}

std::string line_of(const toml::node& n) {
    const auto& src = n.source();
    return src.begin ? fmt::format(" (line {})", src.begin.line) : std::string();
}

std::string default_text(const binding& b) {
    return std::visit(
        [](auto* p) -> std::string {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return fmt::format("\"{}\"", *p);
            } else if constexpr (std::is_same_v<T, bool>) {
                return *p ? "true" : "false";
            } else {
                return fmt::format("{}", *p);
            }
        },
        b.dest);
}

void assign(const binding& b, const toml::node& n, const std::string& name,
            const std::string& where) {
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                if (!n.is_string())
                    throw config_error(fmt::format("{}: expected a string{}", name, where));
                *p = *n.value<std::string>();
            } else if constexpr (std::is_same_v<T, bool>) {
                if (!n.is_boolean())
                    throw config_error(fmt::format("{}: expected true or false{}", name, where));
                *p = *n.value<bool>();
            } else {
                const bool real = std::is_same_v<T, double>;
                if (real ? !n.is_number() : !n.is_integer()) {
                    throw config_error(fmt::format("{}: expected {}{}", name,
                                                   real ? "a number" : "an integer", where));
                }
                const double v = *n.value<double>();
                if (!std::isfinite(v) || v < b.min || v > b.max) {
                    throw config_error(fmt::format("{}: {} is out of range [{}, {}]{}", name, v,
                                                   b.min, b.max, where));
                }
                *p = static_cast<T>(real ? v : static_cast<double>(*n.value<std::int64_t>()));
            }
        },
        b.dest);
}

// Environment text as a TOML node of the binding's type.
void set_from_env(toml::table& section, const binding& b, const std::string& var,
                  const std::string& text) {
    auto fail = [&](std::string_view what) {
        return config_error(fmt::format("{}: expected {}, got '{}'", var, what, text));
    };
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                section.insert_or_assign(b.key, text);
            } else if constexpr (std::is_same_v<T, bool>) {
                if (text != "true" && text != "false") throw fail("true or false");
                section.insert_or_assign(b.key, text == "true");
            } else {
                constexpr bool real = std::is_same_v<T, double>;
                try {
                    std::size_t used = 0;
                    if (real) {
                        const double v = std::stod(text, &used);
                        if (used == text.size()) return void(section.insert_or_assign(b.key, v));
                    } else {
                        const std::int64_t v = std::stoll(text, &used);
                        if (used == text.size()) return void(section.insert_or_assign(b.key, v));
                    }
                } catch (const std::exception&) {
                }
                throw fail(real ? "a number" : "an integer");
            }
        },
        b.dest);
}

void apply_env(toml::table& root, const std::vector<binding>& binds, const env_map& env) {
    for (const auto& [var, text] : env) {
        if (var.rfind("FOGBRIDGE_SINK_", 0) != 0) continue;
        const binding* match = nullptr;
        for (const auto& b : binds) {
            if (env_name(b) == var) match = &b;
        }
        if (match == nullptr) throw config_error(var + ": no such configuration key");
        if (root[match->section].as_table() == nullptr) {
            root.insert_or_assign(match->section, toml::table{});
        }
        set_from_env(*root[match->section].as_table(), *match, var, text);
    }
}

void read_bindings(const toml::table& root, const std::vector<binding>& binds) {
    for (const auto& [section, node] : root) {
        const auto* table = node.as_table();
        if (table == nullptr) {
            throw config_error(fmt::format("'{}' must be a table{}", section.str(), line_of(node)));
        }
        for (const auto& [key, value] : *table) {
            const std::string name = fmt::format("{}.{}", section.str(), key.str());
            const binding* match = nullptr;
            for (const auto& b : binds) {
                if (b.section == section.str() && b.key == key.str()) match = &b;
            }
            if (match == nullptr) {
                throw config_error(fmt::format("{}: unknown key{}", name, line_of(value)));
            }
            assign(*match, value, name, line_of(value));
        }
    }
}

void check(const config& c) {
    const auto& s = c.sink;
    if (s.device_owner != "first" && s.device_owner != "any") {
        throw config_error("sink.device_owner: expected \"first\" or \"any\", got \"" +
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

}  // namespace

std::vector<key_doc> documented_keys() {
    config c;
    std::vector<key_doc> out;
    for (const auto& b : bindings(c)) {
        out.push_back(
            {fmt::format("{}.{}", b.section, b.key), default_text(b), std::string(b.help)});
    }
    return out;
}

env_map process_env() {
    env_map out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string::npos && kv.rfind("FOGBRIDGE_SINK_", 0) == 0) {
            out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
        }
    }
    return out;
}

config parse_config(std::string_view toml_text, const env_map& env, std::string_view origin) {
    toml::table root;
    try {
        root = toml::parse(toml_text, origin);
    } catch (const toml::parse_error& e) {
        throw config_error(
            fmt::format("{}: {} (line {})", origin, e.description(), e.source().begin.line));
    }
    config c;
    const auto binds = bindings(c);
    apply_env(root, binds, env);
    read_bindings(root, binds);
    check(c);
    return c;
}

config load_config(const std::string& path, const env_map& env) {
    std::ifstream in(path);
    if (!in) throw config_error(fmt::format("{}: cannot read the configuration file", path));
    std::stringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), env, path);
}

}  // namespace fogbridge::sink
