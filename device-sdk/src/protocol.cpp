#include "fogbridge/protocol.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "json_writer.hpp"

namespace fogbridge {
namespace {

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
    });
}

// The portable core's encoder, so boards and the Linux SDK write the same bytes.
void append_reading(std::string& out, const buffered_reading& r) {
    std::array<char, 1024> buf;  // a reading with a 64-byte name and a 32-byte unit escaped fits
    core::json_out json(buf.data(), buf.size());
    core::encode_reading(json, detail::core_view(r));
    out.append(buf.data(), json.size());
}

}  // namespace

device_topics topics_for(std::string_view device_id) {
    const std::string base = "devices/" + std::string(device_id) + "/";
    return device_topics{base + "readings", base + "ack", base + "status", base + "alerts",
                         base + "health"};
}

bool valid_device_id(std::string_view id) { return valid_name(id); }

bool valid_sensor_name(std::string_view name) { return valid_name(name); }

bool valid_unit(std::string_view unit) {
    if (unit.size() > 32) {
        return false;
    }
    return std::none_of(unit.begin(), unit.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F;
    });
}

std::string encode_reading(const buffered_reading& reading) {
    std::string out;
    out.reserve(96);
    append_reading(out, reading);
    return out;
}

std::string encode_readings_within(std::span<const buffered_reading> readings,
                                   std::size_t max_bytes, std::size_t& count) {
    std::string out = "[";
    count = 0;
    for (const auto& r : readings) {
        const std::size_t before = out.size();
        if (count > 0) {
            out += ',';
        }
        append_reading(out, r);
        if (count > 0 && out.size() + 1 > max_bytes) {  // + 1: the closing bracket
            out.resize(before);
            break;
        }
        ++count;
    }
    if (count <= 1) {
        return out.substr(1);  // one reading is sent as a bare object
    }
    out += ']';
    return out;
}

std::string encode_readings(std::span<const buffered_reading> readings) {
    std::size_t count = 0;
    return encode_readings_within(readings, std::numeric_limits<std::size_t>::max(), count);
}

std::string encode_alert(const alert_event& alert, std::uint64_t boot) {
    core::alert_event a;
    a.direction = alert.direction == alert_direction::above ? core::alert_direction::above
                                                            : core::alert_direction::below;
    a.value = alert.value;
    a.threshold = alert.threshold;
    a.ts_ms = detail::millis_of(alert.ts);
    std::array<char, 512> buf;
    core::json_out json(buf.data(), buf.size());
    core::encode_alert(json, alert.sensor.c_str(), a, boot, false);
    return {buf.data(), json.size()};
}

std::string encode_device_health(const device_health_report& h) {
    core::health_report c;
    c.ts_ms = detail::millis_of(h.ts);
    c.boot = h.boot;
    c.uptime_ms = static_cast<std::uint64_t>(detail::millis_of(std::max(h.uptime_s, 0.0)));
    c.buffered = h.buffered;
    c.capacity = h.buffer_capacity;
    c.reconnects = h.reconnects;
    c.has_battery = h.board.battery_pct.has_value();
    c.battery_pct = h.board.battery_pct.value_or(0.0);
    c.has_rssi = h.board.rssi_dbm.has_value();
    c.rssi_dbm = h.board.rssi_dbm.value_or(0.0);
    std::array<char, 512> buf;
    core::json_out json(buf.data(), buf.size());
    core::encode_health(json, c);
    return {buf.data(), json.size()};
}

std::optional<ack> parse_ack(std::string_view payload) {
    const auto doc = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return std::nullopt;
    }
    const auto boot = doc.find("boot");
    const auto seq = doc.find("seq");
    if (boot == doc.end() || seq == doc.end() || !boot->is_number_unsigned() ||
        !seq->is_number_unsigned()) {
        return std::nullopt;
    }
    return ack{boot->get<std::uint64_t>(), seq->get<std::uint64_t>()};
}

}  // namespace fogbridge
