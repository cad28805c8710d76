#include "common/log.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>

namespace fogbridge::log {
namespace {

struct limiter_entry {
    std::chrono::steady_clock::time_point last;
    std::uint64_t held = 0;
    std::chrono::seconds interval{0};
    level lvl = level::info;
    std::string last_held;  // the newest line held back
};

std::atomic<level> level_{level::info};
std::mutex mutex_;
std::FILE* out_ = nullptr;  // nullptr means stderr
std::map<std::string, limiter_entry, std::less<>> limits_;

std::string_view name(level l) {
    switch (l) {
        case level::debug:
            return "debug";
        case level::info:
            return "info";
        case level::warn:
            return "warn";
        case level::error:
            return "error";
        case level::off:
            return "off";
    }
    return "?";
}

std::string timestamp() {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto t = system_clock::to_time_t(now);
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 32> buf{};
    std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf.data(), ms);
}

void emit_locked(level l, std::string_view message) {
    std::FILE* f = out_ != nullptr ? out_ : stderr;
    fmt::print(f, "{} {:<5} {}\n", timestamp(), name(l), message);
    std::fflush(f);
}

void emit_held_locked(limiter_entry& e, std::string_view message,
                      std::chrono::steady_clock::time_point now) {
    if (e.held > 0) {
        emit_locked(e.lvl, fmt::format("{} ({} more like this held back in the last {} s)", message,
                                       e.held, e.interval.count()));
    } else {
        emit_locked(e.lvl, message);
    }
    e.last = now;
    e.held = 0;
    e.last_held.clear();
}

}  // namespace

bool parse_level(std::string_view text, level& out) {
    for (auto l : {level::debug, level::info, level::warn, level::error, level::off}) {
        if (text == name(l)) {
            out = l;
            return true;
        }
    }
    return false;
}

void set_level(level l) { level_ = l; }
level current_level() { return level_; }

void set_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "ae");
    if (f == nullptr) throw std::runtime_error(fmt::format("cannot open log file {}", path));
    const std::lock_guard lock(mutex_);
    if (out_ != nullptr) std::fclose(out_);
    out_ = f;
}

void write(level l, std::string_view message) {
    if (l < level_) return;
    const std::lock_guard lock(mutex_);
    emit_locked(l, message);
}

void write_limited(level l, std::string_view key, std::chrono::seconds interval,
                   std::string_view message) {
    if (l < level_) return;
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock(mutex_);
    auto it = limits_.find(key);
    if (it == limits_.end()) {
        limits_.emplace(std::string(key), limiter_entry{now, 0, interval, l, {}});
        emit_locked(l, message);
        return;
    }
    auto& e = it->second;
    e.interval = interval;
    e.lvl = l;
    if (now - e.last < interval) {
        ++e.held;
        e.last_held = message;
        return;
    }
    emit_held_locked(e, message, now);
}

void flush_held() {
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock(mutex_);
    for (auto& [key, e] : limits_) {
        if (e.held == 0 || now - e.last < e.interval) continue;
        // The count stands for the lines before the last one, which is the one shown.
        --e.held;
        const std::string message = std::move(e.last_held);
        emit_held_locked(e, message, now);
    }
}

}  // namespace fogbridge::log
