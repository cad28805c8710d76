#include "config/config_keys.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace fogbridge {
namespace {

std::string line_of(const toml::node& n) {
    const auto& src = n.source();
    return src.begin ? fmt::format(" (line {})", src.begin.line) : std::string();
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

std::string env_name(const key_scheme& scheme, const config_key& k) {
    auto name = fmt::format("{}{}_{}", scheme.env_prefix, upper(k.section), upper(k.name));
    std::replace(name.begin(), name.end(), '.', '_');  // cloud.topics -> CLOUD_TOPICS
    return name;
}

// The table of a section such as "cloud.topics", made where missing.
toml::table& section_table(toml::table& root, std::string_view section) {
    toml::table* t = &root;
    while (!section.empty()) {
        const auto dot = section.find('.');
        const auto part = section.substr(0, dot);
        if (!(*t)[part].is_table()) t->insert_or_assign(part, toml::table{});
        t = (*t)[part].as_table();
        section = dot == std::string_view::npos ? std::string_view() : section.substr(dot + 1);
    }
    return *t;
}

void check_range(const config_key& k, double v, const std::string& name, const std::string& where) {
    if (!std::isfinite(v)) throw config_error(fmt::format("{}: must be finite{}", name, where));
    if (v < k.min || v > k.max) {
        throw config_error(
            fmt::format("{}: {} is out of range [{}, {}]{}", name, v, k.min, k.max, where));
    }
}

void assign(const config_key& k, const toml::node& n, const std::string& name,
            const std::string& where) {
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                if (!n.is_string()) {
                    throw config_error(fmt::format("{}: expected a string{}", name, where));
                }
                *p = *n.value<std::string>();
            } else if constexpr (std::is_same_v<T, bool>) {
                if (!n.is_boolean()) {
                    throw config_error(fmt::format("{}: expected true or false{}", name, where));
                }
                *p = *n.value<bool>();
            } else if constexpr (std::is_same_v<T, double>) {
                if (!n.is_number()) {
                    throw config_error(fmt::format("{}: expected a number{}", name, where));
                }
                const double v = *n.value<double>();
                check_range(k, v, name, where);
                *p = v;
            } else {
                if (!n.is_integer()) {
                    throw config_error(fmt::format("{}: expected an integer{}", name, where));
                }
                const auto v = *n.value<std::int64_t>();
                check_range(k, static_cast<double>(v), name, where);
                *p = static_cast<T>(v);
            }
        },
        k.dest);
}

// Puts an environment value into `section` as a TOML value of the key's type.
void set_from_env(toml::table& section, const config_key& k, const std::string& var,
                  const std::string& text) {
    auto fail = [&](std::string_view what) {
        return config_error(fmt::format("{}: expected {}, got '{}'", var, what, text));
    };
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                section.insert_or_assign(k.name, text);
            } else if constexpr (std::is_same_v<T, bool>) {
                if (text != "true" && text != "false") throw fail("true or false");
                section.insert_or_assign(k.name, text == "true");
            } else {
                constexpr bool real = std::is_same_v<T, double>;
                try {
                    std::size_t used = 0;
                    if (real) {
                        const double v = std::stod(text, &used);
                        if (used == text.size()) return void(section.insert_or_assign(k.name, v));
                    } else {
                        const std::int64_t v = std::stoll(text, &used);
                        if (used == text.size()) return void(section.insert_or_assign(k.name, v));
                    }
                } catch (const std::exception&) {
                }
                throw fail(real ? "a number" : "an integer");
            }
        },
        k.dest);
}

// `s` is a section of the table, or the head of a nested one ("cloud" of "cloud.topics").
bool has_section(const std::vector<config_key>& keys, std::string_view s) {
    return std::any_of(keys.begin(), keys.end(), [&](const config_key& k) {
        return k.section == s || (k.section.size() > s.size() &&
                                  k.section.substr(0, s.size()) == s && k.section[s.size()] == '.');
    });
}

const config_key* find_key(const std::vector<config_key>& keys, std::string_view section,
                           std::string_view name) {
    for (const auto& k : keys) {
        if (k.section == section && k.name == name) return &k;
    }
    return nullptr;
}

// A variable that names a section of ours but no key is an error; others may belong to tools.
bool names_our_section(const std::string& var, const std::vector<config_key>& keys,
                       const key_scheme& scheme) {
    if (scheme.env_prefix_is_ours) return true;
    return std::any_of(keys.begin(), keys.end(), [&](const config_key& k) {
        return var.rfind(fmt::format("{}{}_", scheme.env_prefix, upper(k.section)), 0) == 0;
    });
}

void apply_env(toml::table& root, const std::vector<config_key>& keys, const env_map& env,
               const key_scheme& scheme) {
    for (const auto& [var, text] : env) {
        if (var.rfind(scheme.env_prefix, 0) != 0) continue;
        const config_key* match = nullptr;
        for (const auto& k : keys) {
            if (env_name(scheme, k) == var) match = &k;
        }
        if (match == nullptr) {
            if (names_our_section(var, keys, scheme)) {
                throw config_error(fmt::format("{}: no such configuration key", var));
            }
            continue;
        }
        set_from_env(section_table(root, match->section), *match, var, text);
    }
}

bool is_other_section(const key_scheme& scheme, std::string_view s) {
    return std::find(scheme.other_sections.begin(), scheme.other_sections.end(), s) !=
           scheme.other_sections.end();
}

void read_section(const toml::table& table, std::string_view section,
                  const std::vector<config_key>& keys) {
    for (const auto& [name, value] : table) {
        const auto full = fmt::format("{}.{}", section, name.str());
        if (value.is_table() && has_section(keys, full)) {
            read_section(*value.as_table(), full, keys);
            continue;
        }
        const auto* k = find_key(keys, section, name.str());
        if (k == nullptr) {
            throw config_error(fmt::format("unknown key '{}'{}", full, line_of(value)));
        }
        assign(*k, value, full, line_of(value));
    }
}

}  // namespace

toml::table parse_toml(std::string_view text, std::string_view origin) {
    try {
        return toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        throw config_error(
            fmt::format("{}: {} (line {})", origin, e.description(), e.source().begin.line));
    }
}

std::string read_config_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw config_error(fmt::format("{}: cannot be read", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

env_map environment_with_prefix(std::string_view prefix) {
    env_map out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view kv(*e);
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        if (kv.rfind(prefix, 0) == 0) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    return out;
}

void read_keys(toml::table& root, const std::vector<config_key>& keys, const env_map& env,
               const key_scheme& scheme) {
    apply_env(root, keys, env, scheme);
    for (const auto& [section, node] : root) {
        const bool other = is_other_section(scheme, section.str());
        if (!other && !has_section(keys, section.str())) {
            throw config_error(fmt::format("unknown section '{}'{}", section.str(), line_of(node)));
        }
        if (!node.is_table()) {
            throw config_error(fmt::format("'{}' must be a table{}", section.str(), line_of(node)));
        }
        if (!other) read_section(*node.as_table(), section.str(), keys);
    }
}

std::string default_text(const config_key& k) {
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
        k.dest);
}

}  // namespace fogbridge
