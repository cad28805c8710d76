// What the uplink puts on the wire (topics, batch and gap record payloads) and how it names a
// PUBACK's reason code: the one place where topics and payloads are formed. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "store/store.hpp"
#include "uplink/cloud_settings.hpp"

namespace fogbridge {

struct batch_payload {
    std::string bytes;
    compression encoding = compression::none;  // the publish says so in its content type
};
// A leased batch as published: JSON in `layout` (batch.layout, "rows" or "columnar"),
// compressed when cloud.compression says so.
batch_payload encode_batch_payload(const cloud_settings& cloud, std::string_view layout,
                                   std::string_view gateway_id, const lease& l);

// The name of an MQTT 5 PUBACK reason code >= 0x80, for the log.
std::string_view puback_reason_name(int code);

// The gap records message (JSON) for a leased set of gap records.
std::string encode_gap_records(std::string_view gateway_id, const gap_lease& g);

// What the store still holds for the cloud, said at shutdown.
std::string describe_undelivered(const queue_stats& q);

}  // namespace fogbridge
