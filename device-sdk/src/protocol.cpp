#include "fogbridge/protocol.hpp"

#include <algorithm>
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
    char buf[1024];  // a reading with a 64-byte name and a 32-byte unit escaped fits
    core::json_out json(buf, sizeof buf);
    core::encode_reading(json, detail::core_view(r));
    out.append(buf, json.size());
}

void append_optional(std::string& out, std::string_view key, std::optional<double> value,
                     double min, double max) {
    if (!value || !std::isfinite(*value) || *value < min || *value > max) {
        return;
    }
    out += ",\"";
    out += key;
    out += "\":";
    detail::append_json_number(out, *value);
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
    std::string out;
    out.reserve(128);
    out += "{\"sensor\":";
    detail::append_json_string(out, alert.sensor);
    out += ",\"value\":";
    detail::append_json_number(out, alert.value);
    out += ",\"threshold\":";
    detail::append_json_number(out, alert.threshold);
    out += ",\"rule\":";
    detail::append_json_string(out, to_string(alert.direction));
    out += ",\"ts\":";
    detail::append_json_number(out, detail::round_to_millis(alert.ts));
    out += ",\"boot\":";
    detail::append_json_uint(out, boot);
    out += '}';
    return out;
}

std::string encode_device_health(const device_health_report& h) {
    std::string out;
    out.reserve(160);
    out += "{\"ts\":";
    detail::append_json_number(out, detail::round_to_millis(h.ts));
    out += ",\"boot\":";
    detail::append_json_uint(out, h.boot);
    out += ",\"uptime_s\":";
    detail::append_json_number(out, detail::round_to_millis(std::max(h.uptime_s, 0.0)));
    out += ",\"buffer\":{\"readings\":";
    detail::append_json_uint(out, h.buffered);
    out += ",\"capacity\":";
    detail::append_json_uint(out, h.buffer_capacity);
    out += "},\"reconnects\":";
    detail::append_json_uint(out, h.reconnects);
    append_optional(out, "battery_pct", h.board.battery_pct, 0.0, 100.0);
    append_optional(out, "rssi_dbm", h.board.rssi_dbm, -200.0, 50.0);
    out += '}';
    return out;
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
