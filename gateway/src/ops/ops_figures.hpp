// The operations figures (resources, rates, PUBACK latency, drain estimate, certificates), part
// of gateway_figures (ops/figures.hpp), and how they appear in the health payload. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/latency_recorder.hpp"
#include "ops/proc_stats.hpp"
#include "ops/rates.hpp"

namespace fogbridge {

struct ops_figures {
    proc_sample process;                                  // proc_sampler::sample()
    std::optional<disk_space> disk;                       // disk_usage(store path)
    std::optional<double> received_per_s;                 // rate_meter fed counters.received
    std::optional<double> stored_per_s;                   // rate_meter fed pipeline.stored
    std::optional<double> sent_per_s;                     // rate_meter fed uplink.readings_acked
    std::uint64_t kept = 0;                               // counters.kept, for the filter ratio
    std::uint64_t filtered = 0;                           // counters.filtered
    latency_summary puback;                               // latency_recorder::summary()
    std::optional<double> drain_s;                        // estimate_drain_seconds()
    std::map<std::string, double> certificate_not_after;  // by link: "local", "cloud"
};

// Share of the readings the filter decided on that it dropped; empty before the first.
std::optional<double> filter_ratio(std::uint64_t kept, std::uint64_t filtered);

// Adds "process", "host", "disk", "rates" and "certificates" to a health payload object, and
// puback_p50_s / puback_p99_s / puback_max_s to its "uplink" and drain_eta_s to its "queue"
// (creating those objects if missing). Unknown figures are null.
void add_ops_health(nlohmann::json& payload, const ops_figures& f, double now);

}  // namespace fogbridge
