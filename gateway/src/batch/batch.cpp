#include "batch/batch.hpp"

#include "batch/batch_parts.hpp"
#include "batch/json_write.hpp"

namespace fogbridge {
namespace {

// Member prefixes of a reading object, shared by the writer and encoded_size.
constexpr std::string_view k_device = R"({"device":)";
constexpr std::string_view k_sensor = R"(,"sensor":)";
constexpr std::string_view k_value = R"(,"value":)";
constexpr std::string_view k_unit = R"(,"unit":)";
constexpr std::string_view k_ts = R"(,"ts":)";
constexpr std::string_view k_boot = R"(,"boot":)";
constexpr std::string_view k_seq = R"(,"seq":)";
constexpr std::string_view k_ts_gw = R"(,"ts_src":"gw")";
constexpr std::string_view k_end = "}";

constexpr std::size_t reading_fixed_size = k_device.size() + k_sensor.size() + k_value.size() +
                                           k_ts.size() + k_boot.size() + k_seq.size() +
                                           k_end.size();

void append_reading(std::string& out, const reading& r) {
    out.append(k_device);
    append_json_string(out, r.device);
    out.append(k_sensor);
    append_json_string(out, r.sensor);
    out.append(k_value);
    append_json_number(out, r.value);
    if (!r.unit.empty()) {
        out.append(k_unit);
        append_json_string(out, r.unit);
    }
    out.append(k_ts);
    append_json_number(out, r.ts);
    out.append(k_boot);
    append_json_number(out, r.boot);
    out.append(k_seq);
    append_json_number(out, r.seq);
    if (r.ts_from_gateway) out.append(k_ts_gw);
    out.append(k_end);
}

void append_range(std::string& out, const seq_range& r) {
    out.append(R"({"device":)");
    append_json_string(out, r.device);
    out.append(R"(,"boot":)");
    append_json_number(out, r.boot);
    out.append(R"(,"first":)");
    append_json_number(out, r.first);
    out.append(R"(,"last":)");
    append_json_number(out, r.last);
    out.push_back('}');
}

// An upper estimate, so that the output buffer is allocated once in the usual case.
std::size_t estimate(const batch_view& b) {
    constexpr std::size_t numbers = 2 * 24 + 2 * 20;
    std::size_t n = 128 + b.gateway.size() + b.batch_id.size();
    for (const auto& r : b.readings) {
        n += reading_fixed_size + k_unit.size() + numbers + 8 + r.device.size() + r.sensor.size() +
             r.unit.size();
    }
    for (const auto& r : b.ranges) n += 64 + 3 * 20 + r.device.size();
    return n;
}

void append_batch_head(std::string& out, const batch_view& b) {
    out.append(R"({"gateway":)");
    append_json_string(out, b.gateway);
    out.append(R"(,"batch_id":)");
    append_json_string(out, b.batch_id);
    out.append(R"(,"created":)");
    append_json_number(out, b.created);
    out.append(b.replay ? R"(,"replay":true)" : R"(,"replay":false)");
}

void append_batch_tail(std::string& out, const batch_view& b) {
    out.append(R"(,"ranges":[)");
    for (std::size_t i = 0; i < b.ranges.size(); ++i) {
        if (i > 0) out.push_back(',');
        append_range(out, b.ranges[i]);
    }
    out.append("]}");
}

std::size_t rows_readings_size(const batch_view& b) {
    std::size_t n = std::string_view(R"(,"readings":[])").size();
    for (const auto& r : b.readings) n += encoded_size(r);
    return b.readings.empty() ? n : n - 1;  // no comma after the last one
}

std::string encode_batch_rows(const batch_view& b) {
    std::string out;
    out.reserve(estimate(b));
    append_batch_head(out, b);
    out.append(R"(,"readings":[)");
    for (std::size_t i = 0; i < b.readings.size(); ++i) {
        if (i > 0) out.push_back(',');
        append_reading(out, b.readings[i]);
    }
    out.push_back(']');
    append_batch_tail(out, b);
    return out;
}

std::string encode_columnar(const batch_view& b, bool bounded) {
    std::string out;
    out.reserve(estimate(b));
    append_batch_head(out, b);
    const std::size_t at = out.size();
    append_columnar_body(out, b);
    if (bounded && out.size() - at > rows_readings_size(b)) return encode_batch_rows(b);
    append_batch_tail(out, b);
    return out;
}

}  // namespace

batch_layout batch_layout_named(std::string_view name) {
    return name == "columnar" ? batch_layout::columnar : batch_layout::rows;
}

std::string encode_batch(const batch_view& b) {
    if (b.layout == batch_layout::rows) return encode_batch_rows(b);
    return encode_columnar(b, true);
}

std::string encode_batch_columnar(const batch_view& b) { return encode_columnar(b, false); }

std::size_t encoded_size(const reading& r) {
    std::size_t n = reading_fixed_size + 1;
    n += json_string_size(r.device) + json_string_size(r.sensor);
    if (!r.unit.empty()) n += k_unit.size() + json_string_size(r.unit);
    n += json_number_size(r.value) + json_number_size(r.ts);
    n += json_number_size(r.boot) + json_number_size(r.seq);
    if (r.ts_from_gateway) n += k_ts_gw.size();
    return n;
}

std::string encode_ack(std::uint64_t boot, std::uint64_t seq) {
    std::string out;
    out.reserve(48);
    out.append(R"({"boot":)");
    append_json_number(out, boot);
    out.append(R"(,"seq":)");
    append_json_number(out, seq);
    out.push_back('}');
    return out;
}

std::string encode_alert(std::string_view gateway, const alert& a) {
    std::string out;
    out.reserve(256);
    out.append(R"({"gateway":)");
    append_json_string(out, gateway);
    out.append(R"(,"device":)");
    append_json_string(out, a.device);
    out.append(R"(,"sensor":)");
    append_json_string(out, a.sensor);
    out.append(R"(,"value":)");
    append_json_number(out, a.value);
    if (a.threshold) {
        out.append(R"(,"threshold":)");
        append_json_number(out, *a.threshold);
    }
    if (!a.unit.empty()) {
        out.append(R"(,"unit":)");
        append_json_string(out, a.unit);
    }
    if (!a.rule.empty()) {
        out.append(R"(,"rule":)");
        append_json_string(out, a.rule);
    }
    out.append(R"(,"ts":)");
    append_json_number(out, a.ts);
    out.append(R"(,"boot":)");
    append_json_number(out, a.boot);
    if (a.seq) {
        out.append(R"(,"seq":)");
        append_json_number(out, *a.seq);
    }
    out.push_back('}');
    return out;
}

}  // namespace fogbridge
