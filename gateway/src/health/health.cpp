#include "health/health.hpp"

#include <nlohmann/json.hpp>

#include "common/version.hpp"

namespace fogbridge {

std::string health_payload(const health_inputs& in) {
    using nlohmann::json;
    const auto& c = in.pipeline.counters;
    json rejected = json::object();
    std::uint64_t rejected_total = 0;
    for (const auto& [reason, n] : c.rejected) {
        rejected[reason] = n;
        rejected_total += n;
    }
    json filter = json::object();
    for (const auto& [rule, f] : in.pipeline.filter) {
        filter[rule] = {{"kept_first", f.kept_first},
                        {"kept_change", f.kept_change},
                        {"kept_heartbeat", f.kept_heartbeat},
                        {"kept_gap", f.kept_gap},
                        {"dropped", f.dropped}};
    }
    json oldest = nullptr;
    if (in.queue.oldest_enqueued) oldest = std::max(0.0, in.now - *in.queue.oldest_enqueued);
    const auto& u = in.uplink;
    json j = {
        {"gateway", in.gateway_id},
        {"ts", in.now},
        {"version", std::string(version())},
        {"uptime_s", in.now - in.started},
        {"status", in.stopping ? "stopping"
                   : (u.state == uplink_state::connected && in.pipeline.store_failing.empty())
                       ? "ok"
                       : "degraded"},
        {"uplink",
         {{"state", std::string(to_string(u.state))},
          {"since", u.since},
          {"connects", u.connects},
          {"in_flight", u.in_flight},
          {"oldest_unacked_age_s", u.oldest_unacked_age_s ? json(*u.oldest_unacked_age_s) : json()},
          {"last_error", u.last_error},
          {"alerts_dropped", u.alerts_dropped},
          {"reports_dropped", u.reports_dropped},
          {"store_errors", u.store_errors}}},
        {"queue",
         {{"readings", in.queue.pending_readings + in.queue.leased_readings},
          {"bytes", in.queue.pending_bytes},
          {"leased_batches", in.queue.leased_batches},
          {"replay_readings", in.queue.backlog_readings},
          {"oldest_age_s", oldest},
          {"inbound_messages", in.pipeline.queued}}},
        {"counters",
         {{"messages", c.messages},
          {"received", c.readings},
          {"stored", in.pipeline.stored},
          {"kept", c.kept},
          {"filtered", c.filtered},
          {"duplicates", c.duplicates + in.pipeline.store_duplicates},
          {"out_of_order", c.out_of_order},
          {"rejected", rejected},
          {"rejected_total", rejected_total},
          {"alerts", c.alerts},
          {"device_statuses", c.statuses},
          {"device_health", c.health},
          {"rejects_suppressed", c.rejects_suppressed},
          {"alerts_suppressed", c.alerts_suppressed},
          {"health_suppressed", c.health_suppressed},
          {"commits", in.pipeline.commits},
          {"commit_failures", in.pipeline.commit_failures},
          {"batches_sent", u.batches_sent},
          {"replay_batches_sent", u.replay_batches_sent},
          {"batches_acked", u.batches_acked},
          {"batches_refused", u.batches_refused},
          {"readings_sent", u.readings_acked},
          {"bytes_up", u.bytes_sent}}},
        {"filter", filter},
    };
    if (u.cert_days_left) j["certificate"] = {{"days_left", *u.cert_days_left}};
    j["queue"]["drops"] = {{"store_full_bytes", in.queue.drops.store_full_bytes},
                           {"store_full_rows", in.queue.drops.store_full_rows},
                           {"disk_low", in.queue.drops.disk_low},
                           {"ttl", in.queue.drops.ttl},
                           {"store_lost", in.queue.drops.store_lost}};
    j["queue"]["gap_records"] = in.queue.gap_records;
    // The store's disk: while it refuses writes, devices are not acknowledged.
    j["store"] = {
        {"writable", in.pipeline.store_failing.empty()},
        {"error",
         in.pipeline.store_failing.empty() ? json(nullptr) : json(in.pipeline.store_failing)},
        {"since",
         in.pipeline.store_failing.empty() ? json(nullptr) : json(in.pipeline.store_failing_since)},
        {"last_error", in.pipeline.store_last_error},
        {"reopens", in.queue.reopens},
        {"uplink_write_failures", in.queue.uplink_write_failures}};
    if (in.ops != nullptr) add_ops_health(j, *in.ops, in.now);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fogbridge
