#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "batch/batch_parts.hpp"
#include "batch/json_write.hpp"

namespace fogbridge {
namespace {

// Series in order of first appearance, each with the indexes of its readings in batch order.
std::vector<std::vector<std::size_t>> group_series(const std::vector<reading>& readings) {
    std::vector<std::vector<std::size_t>> series;
    std::unordered_map<std::string, std::size_t> index;
    std::string key;
    for (std::size_t i = 0; i < readings.size(); ++i) {
        const reading& r = readings[i];
        key.assign(r.device).push_back('\0');
        key.append(r.sensor).push_back('\0');
        key.append(r.unit).push_back('\0');
        key.append(std::to_string(r.boot));
        const auto [it, added] = index.try_emplace(key, series.size());
        if (added) series.emplace_back();
        series[it->second].push_back(i);
    }
    return series;
}

// ts as whole milliseconds when that reads back as the very same double, as ms / 1000.0 does in
// any consumer; rows carry the double's shortest text, which columnar must not round.
bool ms_exact(double ts, std::int64_t& ms) {
    constexpr double limit = 9.0e15;  // well inside the doubles that hold every integer exactly
    if (!std::isfinite(ts)) return false;
    const double m = std::round(ts * 1000.0);
    if (std::fabs(m) > limit || m / 1000.0 != ts) return false;
    ms = static_cast<std::int64_t>(m);
    return true;
}

bool all_ms_exact(const std::vector<reading>& readings, const std::vector<std::size_t>& idx) {
    std::int64_t ms = 0;
    for (const std::size_t i : idx) {
        if (!ms_exact(readings[i].ts, ms)) return false;
    }
    return true;
}

// Deltas from the previous entry; the first is absolute. seq and boot stay below 2^53.
void append_seq(std::string& out, const std::vector<reading>& rs,
                const std::vector<std::size_t>& idx) {
    out.append(R"(,"seq":[)");
    std::uint64_t prev = 0;
    for (std::size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out.push_back(',');
        const std::uint64_t s = rs[idx[k]].seq;
        append_json_int(out, static_cast<std::int64_t>(s - prev));
        prev = s;
    }
    out.push_back(']');
}

void append_ts(std::string& out, const std::vector<reading>& rs,
               const std::vector<std::size_t>& idx) {
    if (!all_ms_exact(rs, idx)) {
        out.append(R"(,"ts_s":[)");
        for (std::size_t k = 0; k < idx.size(); ++k) {
            if (k > 0) out.push_back(',');
            append_json_number(out, rs[idx[k]].ts);
        }
        out.push_back(']');
        return;
    }
    out.append(R"(,"ts":[)");
    std::int64_t prev = 0;
    for (std::size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out.push_back(',');
        std::int64_t ms = 0;
        ms_exact(rs[idx[k]].ts, ms);
        append_json_int(out, ms - prev);
        prev = ms;
    }
    out.push_back(']');
}

// Which readings' ts the gateway placed from up: true for all of them (a board without a clock
// sends no other kind, and the indexes would cost as much as the values), else their indexes.
void append_ts_gw(std::string& out, const std::vector<reading>& rs,
                  const std::vector<std::size_t>& idx) {
    const auto gw = [&](std::size_t k) { return rs[idx[k]].ts_from_gateway; };
    std::size_t count = 0;
    for (std::size_t k = 0; k < idx.size(); ++k) count += gw(k) ? 1 : 0;
    if (count == 0) return;
    if (count == idx.size()) {
        out.append(R"(,"ts_gw":true)");
        return;
    }
    out.append(R"(,"ts_gw":[)");
    bool first = true;
    for (std::size_t k = 0; k < idx.size(); ++k) {
        if (!gw(k)) continue;
        if (!first) out.push_back(',');
        first = false;
        append_json_number(out, std::uint64_t{k});
    }
    out.push_back(']');
}

void append_series(std::string& out, const std::vector<reading>& rs,
                   const std::vector<std::size_t>& idx) {
    const reading& first = rs[idx.front()];
    out.append(R"({"device":)");
    append_json_string(out, first.device);
    out.append(R"(,"sensor":)");
    append_json_string(out, first.sensor);
    out.append(R"(,"boot":)");
    append_json_number(out, first.boot);
    if (!first.unit.empty()) {
        out.append(R"(,"unit":)");
        append_json_string(out, first.unit);
    }
    append_seq(out, rs, idx);
    append_ts(out, rs, idx);
    out.append(R"(,"value":[)");
    for (std::size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out.push_back(',');
        append_json_number(out, rs[idx[k]].value);
    }
    out.push_back(']');
    append_ts_gw(out, rs, idx);
    out.push_back('}');
}

}  // namespace

void append_columnar_body(std::string& out, const batch_view& b) {
    // layout_version 2: "ts_gw" may be true (every reading of the series); 1 (absent) had
    // only index arrays.
    out.append(R"(,"layout":"columnar","layout_version":2,"series":[)");
    const auto series = group_series(b.readings);
    for (std::size_t s = 0; s < series.size(); ++s) {
        if (s > 0) out.push_back(',');
        append_series(out, b.readings, series[s]);
    }
    out.push_back(']');
}

}  // namespace fogbridge
