#include "ops/ops_figures.hpp"

#include "ops/certificate.hpp"

namespace fogbridge {
namespace {

template <typename T>
nlohmann::json or_null(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

std::optional<double> filter_ratio(std::uint64_t kept, std::uint64_t filtered) {
    const auto decided = kept + filtered;
    if (decided == 0) return std::nullopt;
    return static_cast<double>(filtered) / static_cast<double>(decided);
}

void add_ops_health(nlohmann::json& payload, const ops_figures& f, double now) {
    using nlohmann::json;
    const auto& p = f.process;
    payload["process"] = {{"cpu_s", or_null(p.process_cpu_seconds)},
                          {"cpu_pct", or_null(p.process_cpu_percent)},
                          {"rss_bytes", or_null(p.rss_bytes)},
                          {"peak_rss_bytes", or_null(p.peak_rss_bytes)}};
    payload["host"] = {{"cpu_pct", or_null(p.host_cpu_percent)},
                       {"mem_total_bytes", or_null(p.mem_total_bytes)},
                       {"mem_available_bytes", or_null(p.mem_available_bytes)}};
    payload["disk"] = {{"free_bytes", f.disk ? json(f.disk->free_bytes) : json(nullptr)},
                       {"total_bytes", f.disk ? json(f.disk->total_bytes) : json(nullptr)}};
    payload["rates"] = {{"received_per_s", or_null(f.received_per_s)},
                        {"stored_per_s", or_null(f.stored_per_s)},
                        {"sent_per_s", or_null(f.sent_per_s)},
                        {"filter_ratio", or_null(filter_ratio(f.kept, f.filtered))}};
    auto& uplink = payload["uplink"];
    uplink["puback_p50_s"] = or_null(f.puback.p50);
    uplink["puback_p99_s"] = or_null(f.puback.p99);
    uplink["puback_max_s"] = or_null(f.puback.max);
    payload["queue"]["drain_eta_s"] = or_null(f.drain_s);
    json certificates = json::object();
    for (const auto& [link, not_after] : f.certificate_not_after) {
        certificates[link] = {{"not_after", not_after},
                              {"expiry_days", days_until(not_after, now)}};
    }
    payload["certificates"] = std::move(certificates);
}

}  // namespace fogbridge
