#include "fogbridge/delivery_session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "json_writer.hpp"

namespace fogbridge {

std::string_view to_string(publish_result result) {
    switch (result) {
        case publish_result::queued:
            return "queued";
        case publish_result::buffer_full:
            return "buffer_full";
        case publish_result::invalid:
            return "invalid";
    }
    return "unknown";
}

namespace {

using time_point = delivery_session::time_point;

std::uint64_t to_ms(time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    return ms.count() > 0 ? static_cast<std::uint64_t>(ms.count()) : 0;
}

std::uint32_t clamp32(std::size_t v) {
    return static_cast<std::uint32_t>(std::min<std::size_t>(v, 0xFFFFFFFFU));
}

core::delivery_settings core_settings(const delivery_settings& s) {
    core::delivery_settings c;
    c.max_in_flight = clamp32(std::max<std::size_t>(s.max_in_flight, 1));
    c.resend_timeout_ms = clamp32(static_cast<std::size_t>(std::max<std::int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.resend_timeout).count(), 0)));
    c.max_readings_per_message = clamp32(std::max<std::size_t>(s.max_readings_per_message, 1));
    c.max_message_bytes = clamp32(s.max_message_bytes);
    return c;
}

// Room for the largest message: the byte limit, or what the reading count allows, plus one
// reading beyond (a first reading always goes, whatever the limit).
std::size_t payload_room(const delivery_settings& s) {
    constexpr std::size_t max_reading = 1024;  // 64-byte name, 32-byte unit escaped, numbers
    const std::size_t per_count = std::min<std::size_t>(s.max_readings_per_message, 1U << 16U);
    return std::min(s.max_message_bytes, per_count * max_reading) + max_reading;
}

}  // namespace

bool delivery_session::buffer_store::push(std::uint64_t boot, const core::reading& r,
                                          const core::sensor_info& sensor) {
    std::optional<double> up;
    if (!r.no_up) {
        up = static_cast<double>(r.up_ms) / 1000.0;
    }
    return !buffer_.full() &&
           buffer_.push(buffered_reading{boot, r.seq, sensor.name, r.value, sensor.unit,
                                         static_cast<double>(r.ts_ms) / 1000.0, up});
}

std::size_t delivery_session::buffer_store::drop_through(const core::reading_id& through) {
    return buffer_.drop_through(through);
}

bool delivery_session::buffer_store::get(std::uint64_t boot, std::uint64_t seq,
                                         core::reading_view& out) {
    const bool cached = !cache_.empty() && cache_.front().boot == boot &&
                        seq >= cache_.front().seq && seq <= cache_.back().seq;
    if (!cached) {
        cache_.clear();
        if (buffer_.read({.boot = boot, .from_seq = seq, .max_count = 256}, cache_) == 0) {
            return false;
        }
    }
    out = detail::core_view(cache_[static_cast<std::size_t>(seq - cache_.front().seq)]);
    return true;
}

bool delivery_session::buffer_store::front_run(core::run& out) const {
    const auto front = buffer_.front_run();
    if (!front) {
        return false;
    }
    out = core::run{front->boot, front->first_seq, front->last_seq};
    return true;
}

bool delivery_session::buffer_store::holds(std::uint64_t boot) const {
    const auto runs = buffer_.runs();
    return std::any_of(runs.begin(), runs.end(),
                       [boot](const buffered_run& r) { return r.boot == boot; });
}

delivery_session::delivery_session(delivery_settings settings, std::uint64_t boot,
                                   std::unique_ptr<reading_buffer> buffer)
    : settings_(std::move(settings)),
      topics_(topics_for(settings_.device_id)),
      buffer_(std::move(buffer)),
      store_(*buffer_),
      core_(core_settings(settings_), boot, store_, nullptr, 0),
      payload_(payload_room(settings_), '\0') {
    if (!core_.store_ok()) {
        // Its next seqs may already be at the gateway (sent, then lost from a file cut
        // short), so new readings would be dropped there as duplicates.
        throw std::invalid_argument("the buffer already holds readings of boot " +
                                    std::to_string(boot));
    }
}

delivery_counters delivery_session::counters() const {
    const auto& c = core_.counters();
    delivery_counters out;
    out.published = c.published;
    out.acked = c.acked;
    out.buffer_full = c.buffer_full;
    out.invalid = c.invalid + invalid_;
    out.sent = c.sent;
    out.resent = c.resent;
    out.alerts = alerts_;
    out.alerts_dropped = alerts_dropped_;
    out.ignored_acks = c.ignored_acks;
    out.recovered = c.recovered;
    return out;
}

publish_result delivery_session::accept(std::string_view sensor, double value,
                                        std::string_view unit, double ts,
                                        std::optional<double> up) {
    if (!valid_sensor_name(sensor) || !valid_unit(unit) || !std::isfinite(ts)) {
        ++invalid_;
        return publish_result::invalid;
    }
    const bool has_up = up && std::isfinite(*up) && *up >= 0;
    const std::string name(sensor);
    const std::string unit_text(unit);
    const auto r = core_.accept(
        core::sensor_info{name.c_str(), unit_text.c_str()}, value, detail::millis_of(ts),
        has_up ? static_cast<std::uint64_t>(detail::millis_of(*up)) : 0, has_up);
    switch (r) {
        case core::accept_result::queued:
            return publish_result::queued;
        case core::accept_result::buffer_full:
            return publish_result::buffer_full;
        case core::accept_result::invalid:
            break;
    }
    return publish_result::invalid;
}

bool delivery_session::enqueue_alert(const alert_event& alert) {
    ++alerts_;
    if (pending_alerts_ >= settings_.max_pending_alerts) {
        ++alerts_dropped_;
        return false;
    }
    urgent_.push_back(
        outgoing_message{topics_.alerts, encode_alert(alert, boot()), 1, false, 0, 0, boot()});
    ++pending_alerts_;
    return true;
}

bool delivery_session::enqueue_health(std::string payload) {
    if (!connected()) {
        return false;
    }
    urgent_.push_back(outgoing_message{topics_.health, std::move(payload), 0, false, 0, 0});
    return true;
}

void delivery_session::on_connected(time_point now) { core_.on_connected(to_ms(now)); }

void delivery_session::on_disconnected() {
    core_.on_disconnected();
    // Alerts wait for the next connection; health would be stale by then.
    std::erase_if(urgent_, [this](const outgoing_message& m) { return m.topic != topics_.alerts; });
}

ack_result delivery_session::on_ack(std::uint64_t boot, std::uint64_t seq, time_point now) {
    switch (core_.on_ack(boot, seq, to_ms(now))) {
        case core::ack_result::progress:
            return ack_result::progress;
        case core::ack_result::duplicate:
            return ack_result::duplicate;
        case core::ack_result::other_boot:
            return ack_result::other_boot;
        case core::ack_result::out_of_range:
            break;
    }
    return ack_result::out_of_range;
}

ack_result delivery_session::on_ack_payload(std::string_view payload, time_point now) {
    const auto parsed = parse_ack(payload);
    if (!parsed) {
        return ack_result::malformed;
    }
    return on_ack(parsed->boot, parsed->seq, now);
}

std::vector<outgoing_message> delivery_session::take_sendable(time_point now,
                                                              std::size_t max_messages) {
    std::vector<outgoing_message> out;
    if (!connected()) {
        return out;
    }
    while (!urgent_.empty() && out.size() < max_messages) {
        if (urgent_.front().topic == topics_.alerts) {
            --pending_alerts_;
        }
        out.push_back(std::move(urgent_.front()));
        urgent_.pop_front();
    }
    while (out.size() < max_messages) {
        core::json_out json(payload_.data(), payload_.size());
        std::uint64_t first = 0;
        std::uint64_t last = 0;
        const std::uint64_t boot = core_.sending_boot();
        if (!core_.next_message(to_ms(now), json, first, last)) {
            break;
        }
        out.push_back(outgoing_message{topics_.readings, std::string(json.data(), json.size()), 1,
                                       false, first, last, boot});
    }
    return out;
}

std::optional<delivery_session::time_point> delivery_session::next_deadline() const {
    const std::uint64_t at = core_.next_deadline_ms();
    if (at == 0) {
        return std::nullopt;
    }
    return time_point{} + std::chrono::milliseconds{at};
}

}  // namespace fogbridge
