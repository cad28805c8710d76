// Shared bits of the benchmark tools: wall clock, TLS setup, a stop flag set by signals,
// and a scanner for the flat JSON reading objects the tools read. Not thread-safe unless noted.
#pragma once

#include <mosquitto.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bench {

inline double wall_now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

// CPU seconds (user + system) this process used so far.
inline double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Set by SIGINT/SIGTERM; tools poll it between network loop rounds (thread-safe).
inline std::atomic<bool> stop_requested{false};

inline void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { stop_requested.store(true); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

struct tls_files {
    std::string ca;
    std::string cert;
    std::string key;
};

inline void apply_tls(mosquitto* m, const tls_files& t) {
    if (t.ca.empty()) return;
    const char* cert = t.cert.empty() ? nullptr : t.cert.c_str();
    const char* key = t.key.empty() ? nullptr : t.key.c_str();
    if (mosquitto_tls_set(m, t.ca.c_str(), nullptr, cert, key, nullptr) != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error("TLS files not usable: " + t.ca + " " + t.cert + " " + t.key);
    }
    mosquitto_tls_opts_set(m, 1, "tlsv1.2", nullptr);
}

// The value text after "key": inside [begin, end) of a flat JSON object, or empty.
inline std::string_view json_field(std::string_view obj, std::string_view quoted_key) {
    const auto at = obj.find(quoted_key);
    if (at == std::string_view::npos) return {};
    auto p = at + quoted_key.size();
    while (p < obj.size() && (obj[p] == ' ' || obj[p] == ':')) ++p;
    auto e = p;
    if (e < obj.size() && obj[e] == '"') {
        ++e;
        while (e < obj.size() && obj[e] != '"') e += obj[e] == '\\' ? 2 : 1;
        return obj.substr(p + 1, e - p - 1);
    }
    while (e < obj.size() && obj[e] != ',' && obj[e] != '}' && obj[e] != ' ') ++e;
    return obj.substr(p, e - p);
}

inline std::optional<double> to_double(std::string_view s) {
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{}) return std::nullopt;
    return v;
}

inline std::optional<unsigned long long> to_uint(std::string_view s) {
    unsigned long long v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{}) return std::nullopt;
    return v;
}

// Calls f(object_text) for every flat reading object (one holding "seq") in a payload: a single
// reading, an array of readings, or a gateway batch (whose "ranges" have no "seq").
template <typename F>
void for_each_reading(std::string_view payload, F&& f) {
    const auto ranges = payload.find("\"ranges\"");
    const auto body = payload.substr(0, ranges);
    std::size_t pos = 0;
    while ((pos = body.find("\"seq\"", pos)) != std::string_view::npos) {
        const auto open = body.rfind('{', pos);
        const auto close = body.find('}', pos);
        if (open == std::string_view::npos || close == std::string_view::npos) break;
        f(body.substr(open, close - open + 1));
        pos = close;
    }
}

}  // namespace bench
