#include "health/health.hpp"

#include <nlohmann/json.hpp>

#include "health/code_name.hpp"

namespace fogbridge {
namespace {

using nlohmann::json;

template <typename T>
json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// "net.timed_out" and the like; null while there is no error.
json code_or_null(const status_error& e) { return e ? json(code_name(e.code)) : json(nullptr); }

std::string status_of(const gateway_figures& f) {
    if (f.stopping) {
        return "stopping";
    }
    const bool ok = f.uplink.state == uplink_state::connected && f.store.writable();
    return ok ? "ok" : "degraded";
}

json uplink_of(const uplink_status& u) {
    return {{"state", std::string(to_string(u.state))},
            {"since", u.since},
            {"connects", u.connects},
            {"in_flight", u.in_flight},
            {"oldest_unacked_age_s", or_null(u.oldest_unacked_age_s)},
            {"last_error", u.last_error.text},
            {"last_error_code", code_or_null(u.last_error)},
            {"alerts_dropped", u.alerts_dropped},
            {"reports_dropped", u.reports_dropped},
            {"store_errors", u.store_errors}};
}

json queue_of(const queue_figures& q) {
    json drops = json::object();
    for (const auto reason : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                              drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        drops[std::string(to_string(reason))] = q.drops[reason];
    }
    return {{"readings", q.held_readings},
            {"pending_readings", q.pending_readings},
            {"leased_readings", q.leased_readings},
            {"bytes", q.held_bytes},
            {"held_bytes", q.held_bytes},
            {"pending_bytes", q.pending_bytes},
            {"leased_batches", q.leased_batches},
            {"replay_readings", q.backlog_readings},
            {"oldest_age_s", or_null(q.oldest_held_age_s)},
            {"inbound_messages", q.inbound_messages},
            {"drops", std::move(drops)},
            {"gap_records", q.gap_records}};
}

json counters_of(const reading_figures& r, const store_figures& s, const uplink_status& u) {
    return {{"messages", r.messages},
            {"received", r.received},
            {"stored", r.stored},
            {"kept", r.kept},
            {"filtered", r.filtered},
            {"duplicates", r.duplicates},
            {"out_of_order", r.out_of_order},
            {"rejected", r.rejected},
            {"rejected_total", r.rejected_total()},
            {"alerts", r.alerts},
            {"device_statuses", r.device_statuses},
            {"device_health", r.device_health},
            {"rejects_suppressed", r.rejects_suppressed},
            {"alerts_suppressed", r.alerts_suppressed},
            {"health_suppressed", r.health_suppressed},
            {"commits", r.commits},
            {"commit_failures", s.commit_failures},
            {"batches_sent", u.batches_sent},
            {"replay_batches_sent", u.replay_batches_sent},
            {"batches_acked", u.batches_acked},
            {"batches_refused", u.batches_refused},
            {"readings_acked", u.readings_acked},
            {"readings_sent", u.readings_acked},  // the same figure, for existing dashboards
            {"bytes_up", u.bytes_sent}};
}

json store_of(const store_figures& s) {
    return {{"writable", s.writable()},
            {"error", s.writable() ? json(nullptr) : json(s.failing)},
            {"since", s.writable() ? json(nullptr) : json(s.failing_since)},
            {"last_error", s.last_error.text},
            {"last_error_code", code_or_null(s.last_error)},
            {"reopens", s.reopens},
            {"uplink_write_failures", s.uplink_write_failures}};
}

json local_of(const local_link_status& l) {
    return {{"subscribed", l.subscribed},
            {"connects", l.connects},
            {"protocol_errors", l.protocol_errors},
            {"subscription_refused", l.subscription_refused}};
}

}  // namespace

std::string health_payload(const gateway_figures& f) {
    json filter = json::object();
    for (const auto& [rule, decisions] : f.readings.filter_decisions) {
        filter[rule] = decisions;
    }
    json j = {
        {"gateway", f.gateway_id},     {"ts", f.now},
        {"version", f.version},        {"uptime_s", f.now - f.started},
        {"status", status_of(f)},      {"uplink", uplink_of(f.uplink)},
        {"queue", queue_of(f.queue)},  {"counters", counters_of(f.readings, f.store, f.uplink)},
        {"filter", std::move(filter)}, {"store", store_of(f.store)},
        {"local", local_of(f.local)}};
    if (f.uplink.cert_days_left) {
        j["certificate"] = {{"days_left", *f.uplink.cert_days_left}};
    }
    add_ops_health(j, f.ops, f.now);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fogbridge
