#include "uplink/payloads.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "batch/batch.hpp"
#include "batch/compress.hpp"

namespace fogbridge {

batch_payload encode_batch_payload(const cloud_settings& cloud, std::string_view layout,
                                   std::string_view gateway_id, const lease& l) {
    std::vector<reading> readings;
    readings.reserve(l.readings.size());
    for (const auto& s : l.readings) readings.push_back(s.r);
    batch_payload out{encode_batch(batch_view{gateway_id, l.batch_id, l.created, l.replay, readings,
                                              l.ranges, batch_layout_named(layout)}),
                      cloud.compression};
    if (out.encoding == compression::zstd) out.bytes = zstd_compress(out.bytes, cloud.zstd_level);
    return out;
}

std::string_view puback_reason_name(int code) {
    switch (code) {
        case 0x80:
            return "unspecified error";
        case 0x83:
            return "implementation specific error";
        case 0x87:
            return "not authorized";
        case 0x89:
            return "server busy";
        case 0x90:
            return "topic name invalid";
        case 0x95:
            return "packet too large";
        case 0x97:
            return "quota exceeded";
        case 0x99:
            return "payload format invalid";
        default:
            return "error";
    }
}

std::string encode_gap_records(std::string_view gateway_id, const gap_lease& g) {
    nlohmann::json records = nlohmann::json::array();
    for (const auto& r : g.records) {
        nlohmann::json dropped = nlohmann::json::array();
        for (const auto& run : r.dropped) dropped.push_back({run.first, run.last});
        records.push_back({{"device", r.device},
                           {"boot", r.boot},
                           {"reason", std::string(to_string(r.reason))},
                           {"first_seq", r.first},
                           {"last_seq", r.last},
                           {"count", r.count},
                           {"dropped", dropped},
                           {"first_ts", r.first_ts},
                           {"last_ts", r.last_ts},
                           {"created", r.created}});
    }
    const nlohmann::json body = {{"gateway", std::string(gateway_id)},
                                 {"gap_id", g.gap_id},
                                 {"created", g.created},
                                 {"gaps", records}};
    return body.dump();
}

std::string describe_undelivered(const queue_stats& q) {
    const std::size_t gaps = q.gap_records + q.leased_gap_messages;
    const std::size_t readings = q.pending_readings + q.leased_readings;
    if (readings == 0 && gaps == 0) return "nothing left undelivered";
    return fmt::format(
        "left undelivered in the store for the next start: {} readings ({} of them in {} batches "
        "sent without a PUBACK yet, sent again with the same batch_id), {} gap records",
        readings, q.leased_readings, q.leased_batches, gaps);
}

}  // namespace fogbridge
