// Levelled, one-line-per-event logging to stderr or a file, with per-key rate limiting.
// Thread-safe.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <string_view>

namespace fogbridge::log {

enum class level { debug, info, warn, error, off };

bool parse_level(std::string_view text, level& out);
void set_level(level l);
level current_level();
// Appends to `path` instead of stderr; throws std::runtime_error when it cannot be opened.
void set_file(const std::string& path);

void write(level l, std::string_view message);

// Logs at most once per `interval` for the same key; the next line says how many were held back.
void write_limited(level l, std::string_view key, std::chrono::seconds interval,
                   std::string_view message);
// For every key whose interval has passed with lines held back: logs the last of them with the
// count, so the count shows within the interval even when no new line of the key comes. Cheap;
// called from a periodic loop (the uplink's) and at shutdown.
void flush_held();

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::debug) {
        write(level::debug, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::info) {
        write(level::info, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::warn) {
        write(level::warn, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::error) {
        write(level::error, fmt::format(f, std::forward<Args>(args)...));
    }
}

}  // namespace fogbridge::log
