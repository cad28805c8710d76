#include "pipeline/processor.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "batch/batch.hpp"
#include "common/log.hpp"

namespace fogbridge {
namespace {

constexpr std::size_t reject_sample_bytes = 256;

// What a message on the rejects topic says about one rejected message.
struct reject_record {
    std::string_view reason;
    std::string_view detail;
    std::string_view topic;
    std::string_view device;  // empty: the topic names none
    std::string_view payload;
    double now = 0;
    std::uint64_t suppressed = 0;  // rejects of the device not published since the last one
};

std::string reject_payload(const reject_record& r) {
    nlohmann::json j = {{"reason", r.reason},
                        {"detail", r.detail},
                        {"topic", r.topic},
                        {"ts", r.now},
                        {"payload", r.payload.substr(0, reject_sample_bytes)}};
    if (!r.device.empty()) j["device"] = r.device;
    if (r.suppressed > 0) j["suppressed"] = r.suppressed;
    // Hostile bytes must not break the rejects topic: invalid UTF-8 is replaced, not thrown.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Adds "suppressed": n to a JSON object the gateway encoded (it ends with '}').
void note_suppressed(std::string& json, std::uint64_t suppressed) {
    if (suppressed == 0 || json.empty() || json.back() != '}') return;
    json.pop_back();
    json += fmt::format("{}\"suppressed\":{}}}", json.size() > 1 ? "," : "", suppressed);
}

device_quota_settings quota_settings(const decode_settings& d) {
    return {d.max_series_per_device, d.max_boots_per_device, d.boot_idle_s};
}

sequence_settings sequence_settings_of(const decode_settings& d) {
    sequence_settings s;
    if (d.max_boots_per_device > 0) s.max_boots_per_device = d.max_boots_per_device;
    return s;
}

// The device of an ack topic, devices/<id>/ack; empty for any other topic.
std::string_view ack_topic_device(std::string_view topic) {
    constexpr std::string_view prefix = "devices/";
    constexpr std::string_view suffix = "/ack";
    if (topic.size() <= prefix.size() + suffix.size() || !topic.starts_with(prefix) ||
        !topic.ends_with(suffix)) {
        return {};
    }
    const auto id = topic.substr(prefix.size(), topic.size() - prefix.size() - suffix.size());
    return id.find('/') == std::string_view::npos ? id : std::string_view{};
}

// Claims kept at most: one per device that has a retained ack ahead of the store.
constexpr std::size_t max_ack_claims = 100000;

board_clock_settings clock_settings(const decode_settings& d) {
    board_clock_settings s;
    s.max_skew_s = d.max_clock_skew_s;
    return s;
}

}  // namespace

processor::processor(std::string gateway_id, decode_settings decode, filter_settings filter)
    : gateway_id_(std::move(gateway_id)),
      rejects_topic_("gateways/" + gateway_id_ + "/rejects"),
      decode_(decode),
      board_clock_(clock_settings(decode)),
      filter_(std::move(filter)),
      sequences_(sequence_settings_of(decode)),
      reject_limiter_({.per_s = decode.rejects_per_s, .burst = decode.rejects_burst}),
      alert_limiter_({.per_s = decode.alerts_per_s, .burst = decode.alerts_burst}),
      health_limiter_({.per_s = decode.health_per_s, .burst = decode.health_burst}),
      quota_(quota_settings(decode)) {}

void processor::restore(store& s, double now) {
    for (const auto& p : s.load_progress()) {
        sequences_.restore(p.device, p.boot, p.processed);
        quota_.restore_boot(p.device, p.boot);
    }
    for (const auto& f : s.load_filter_states()) {
        filter_.import_state(f.device, f.sensor, f.state);
        quota_.restore_series(f.device, f.sensor);
    }
    // Held readings that survived a restart count as held from now.
    for (auto& [device, sensor, oldest] : filter_.oldest_held()) {
        holding_.emplace(std::pair{std::move(device), std::move(sensor)}, now - oldest);
    }
}

void processor::keep_released(std::vector<reading>& released, group_result& out) {
    for (auto& r : released) {
        out.commit.readings.push_back(std::move(r));
        ++counters_.kept;
        if (counters_.filtered > 0) --counters_.filtered;
    }
}

void processor::take_filter_states(group_result& out) {
    for (const auto& [device, sensor] : filter_.take_dirty()) {
        out.commit.filter_states.push_back({device, sensor, filter_.export_state(device, sensor)});
    }
}

group_result processor::flush_idle(double now) {
    group_result out;
    out.commit.now = now;
    for (auto it = holding_.begin(); it != holding_.end();) {
        const auto& [device, sensor] = it->first;
        const auto oldest = filter_.oldest_held_ts(device, sensor);
        if (!oldest) {
            it = holding_.erase(it);
            continue;
        }
        // The oldest held reading arrived at about its ts plus the series' clock offset.
        const double heartbeat = filter_.rule_for(device, sensor).heartbeat;
        if (heartbeat <= 0 || now - (*oldest + it->second) < heartbeat) {
            ++it;
            continue;
        }
        auto released = filter_.flush(device, sensor);
        keep_released(released, out);
        it = holding_.erase(it);
    }
    take_filter_states(out);
    return out;
}

group_result processor::process(std::vector<inbound_message>& group, double now) {
    group_result out;
    out.commit.now = now;
    for (const auto& m : group) {
        if (const auto device = ack_topic_device(m.topic); !device.empty()) {
            on_ack(device, m);
            continue;
        }
        ++counters_.messages;
        const auto t = parse_device_topic(m.topic);
        if (!t) {
            reject(m, "", topic_reject_reason(m.topic), "not a device topic with a valid id", now,
                   out);
            continue;
        }
        switch (t->kind) {
            case topic_kind::readings:
                on_readings(*t, m, now, out);
                break;
            case topic_kind::alerts:
                on_alert(*t, m, now, out);
                break;
            case topic_kind::status:
                on_status(*t, m, now, out);
                break;
            case topic_kind::health:
                on_health(*t, m, now, out);
                break;
        }
    }
    for (auto& [device, boot, seq] : sequences_.take_dirty()) {
        reack_.erase({device, boot});
        out.commit.progress.push_back({device, boot, seq});
        out.acks.emplace_back(std::move(device), boot, seq);
    }
    for (const auto& [device, boot] : reack_) {
        out.acks.emplace_back(device, boot, sequences_.contiguous(device, boot));
    }
    reack_.clear();
    take_filter_states(out);
    return out;
}

void processor::on_readings(const device_topic& t, const inbound_message& m, double now,
                            group_result& out) {
    auto decoded = decode_readings({.device = t.device, .payload = m.payload}, now, decode_);
    board_clock_.apply(decoded.readings, now);  // boards without a real-time clock
    for (const auto& r : decoded.rejects) {
        reject(m, t.device, r.reason, r.detail, now, out);
        // A rejected reading is processed too: the device may forget it, the reject says why.
        if (r.boot && r.seq && *r.seq == sequences_.contiguous(t.device, *r.boot) + 1 &&
            quota_.admit_boot(t.device, *r.boot, now) == quota_verdict::admit) {
            sequences_.mark({.device = t.device, .boot = *r.boot, .seq = *r.seq});
        }
    }
    for (auto& r : decoded.readings) {
        ++counters_.readings;
        if (!within_quota(r, m, now, out)) continue;
        const auto next = sequences_.contiguous(r.device, r.boot) + 1;
        if (r.seq < next) {
            // The device did not hear our ack (a lost retained message, a broker restored from an
            // older save): tell it again, once per series in this group.
            ++counters_.duplicates;
            reack_.emplace(r.device, r.boot);
            continue;
        }
        if (r.seq > next) give_up_lost(r, out);
        if (r.seq > sequences_.contiguous(r.device, r.boot) + 1) {
            // Go-back-N: only the next seq is processed. What came early is not acknowledged, so
            // the device sends it again in order; the processed mark is then always one number,
            // which the store keeps exactly, across any number of crashes.
            ++counters_.out_of_order;
            continue;
        }
        if (quota_.admit_series(r) != quota_verdict::admit) {
            // Processed as rejected, like a malformed reading: the device may move past it.
            sequences_.mark({.device = r.device, .boot = r.boot, .seq = r.seq});
            reject(m, r.device, reject_reason::series_limit,
                   fmt::format("more than validate.max_series_per_device ({}) sensor names",
                               decode_.max_series_per_device),
                   now, out);
            continue;
        }
        sequences_.mark({.device = r.device, .boot = r.boot, .seq = r.seq});
        auto result = filter_.apply(r);
        // Points held back by the swinging door that turned out to be needed.
        keep_released(result.emit, out);
        if (result.holding) {
            holding_.insert_or_assign({r.device, r.sensor}, now - r.ts);
        } else if (!holding_.empty()) {
            holding_.erase({r.device, r.sensor});
        }
        if (result.decision == filter_decision::drop) {
            ++counters_.filtered;
        } else {
            out.commit.readings.push_back(std::move(r));
            ++counters_.kept;
        }
    }
}

void processor::on_ack(std::string_view device, const inbound_message& m) {
    // Our own acks come back too (the subscription sees what the gateway publishes); they are
    // never ahead of the mark. Only one read back after a restart can be.
    nlohmann::json j = nlohmann::json::parse(m.payload, nullptr, false);
    if (!j.is_object() || !j.contains("boot") || !j.contains("seq") ||
        !j["boot"].is_number_unsigned() || !j["seq"].is_number_unsigned()) {
        return;
    }
    const auto boot = j["boot"].get<std::uint64_t>();
    const auto seq = j["seq"].get<std::uint64_t>();
    const std::string id(device);
    if (seq <= sequences_.contiguous(id, boot)) return;
    if (ack_claims_.size() >= max_ack_claims && !ack_claims_.contains({id, boot})) return;
    auto& claim = ack_claims_[{id, boot}];
    claim = std::max(claim, seq);
}

bool processor::give_up_lost(const reading& r, group_result& out) {
    const auto it = ack_claims_.find({r.device, r.boot});
    if (it == ack_claims_.end()) return false;
    const auto first = sequences_.contiguous(r.device, r.boot) + 1;
    const auto last = it->second;
    if (last < first || r.seq <= last) {
        if (last < first) ack_claims_.erase(it);
        return false;
    }
    sequences_.restore(r.device, r.boot, last);
    // The progress first: the store records the gap with the mark that moved past it.
    out.commit.progress.push_back({r.device, r.boot, last});
    out.commit.lost.push_back({r.device, r.boot, first, last});
    counters_.lost += last - first + 1;
    log::warn(
        "device '{}' boot {}: seqs {}..{} were acknowledged but are not in the store (lost "
        "in a power cut?); recorded as a gap (store_lost)",
        r.device.substr(0, 64), r.boot, first, last);
    ack_claims_.erase(it);
    return true;
}

void processor::on_alert(const device_topic& t, const inbound_message& m, double now,
                         group_result& out) {
    auto decoded = decode_alert({.device = t.device, .payload = m.payload}, now, decode_);
    if (const auto* r = std::get_if<rejection>(&decoded)) {
        reject(m, t.device, r->reason, r->detail, now, out);
        return;
    }
    ++counters_.alerts;
    const auto admitted = alert_limiter_.admit(t.device, now);
    if (!admitted) {
        ++counters_.alerts_suppressed;
        log::write_limited(log::level::warn, "alerts-suppressed", std::chrono::seconds(60),
                           fmt::format("alerts from device '{}' exceed validate.alerts_per_s; "
                                       "counted, not all sent",
                                       t.device.substr(0, 64)));
        return;
    }
    auto payload = encode_alert(gateway_id_, std::get<alert>(decoded));
    note_suppressed(payload, *admitted);
    out.upstream.push_back({{},
                            upstream_stream::alerts,
                            std::move(payload),
                            retain::no,
                            urgent_kind::alert,
                            t.device});
}

void processor::on_status(const device_topic& t, const inbound_message& m, double now,
                          group_result& out) {
    const auto decoded = decode_status(m.payload, decode_);
    if (const auto* r = std::get_if<rejection>(&decoded)) {
        reject(m, t.device, r->reason, r->detail, now, out);
        return;
    }
    ++counters_.statuses;
}

void processor::on_health(const device_topic& t, const inbound_message& m, double now,
                          group_result& out) {
    auto decoded = decode_health({.device = t.device, .payload = m.payload}, now, decode_);
    if (const auto* r = std::get_if<rejection>(&decoded)) {
        reject(m, t.device, r->reason, r->detail, now, out);
        return;
    }
    ++counters_.health;
    const auto admitted = health_limiter_.admit(t.device, now);
    if (!admitted) {
        ++counters_.health_suppressed;
        log::write_limited(log::level::warn, "health-suppressed", std::chrono::seconds(60),
                           fmt::format("health reports from device '{}' exceed "
                                       "validate.health_per_s; counted, not all sent",
                                       t.device.substr(0, 64)));
        return;
    }
    auto payload = std::move(std::get<device_health>(decoded).json);
    note_suppressed(payload, *admitted);
    out.upstream.push_back({{},
                            upstream_stream::device_health,
                            std::move(payload),
                            retain::no,
                            urgent_kind::report,
                            t.device});
}

bool processor::within_quota(const reading& r, const inbound_message& m, double now,
                             group_result& out) {
    if (quota_.admit_boot(r.device, r.boot, now) == quota_verdict::admit) return true;
    // Not marked processed: that would make the state the cap is there to refuse.
    reject(m, r.device, reject_reason::boot_limit,
           fmt::format("boot {}: validate.max_boots_per_device ({}) boots seen within "
                       "validate.boot_idle_s",
                       r.boot, decode_.max_boots_per_device),
           now, out);
    return false;
}

void processor::reject(const inbound_message& m, std::string_view device, reject_reason reason,
                       std::string_view detail, double now, group_result& out) {
    const auto name = to_string(reason);
    ++counters_.rejected[std::string(name)];
    log::write_limited(
        log::level::warn, fmt::format("reject:{}", name), std::chrono::seconds(10),
        fmt::format("rejected a message on {}: {} ({})", m.topic.substr(0, 128), name, detail));
    const auto admitted = reject_limiter_.admit(device, now);
    if (!admitted) {
        ++counters_.rejects_suppressed;
        log::write_limited(log::level::warn, "reject-suppressed", std::chrono::seconds(60),
                           fmt::format("rejects from device '{}' exceed validate.rejects_per_s; "
                                       "counted, not all published",
                                       device.substr(0, 64)));
        return;
    }
    auto payload = reject_payload({.reason = name,
                                   .detail = detail,
                                   .topic = m.topic,
                                   .device = device,
                                   .payload = m.payload,
                                   .now = now,
                                   .suppressed = *admitted});
    out.local.push_back(
        {rejects_topic_, {}, std::move(payload), retain::no, urgent_kind::report, {}});
}

}  // namespace fogbridge
