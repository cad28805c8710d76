// What the uplink puts on the wire besides batches (gap records) and how it names a PUBACK's
// reason code. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "store/store.hpp"

namespace fogbridge {

// The name of an MQTT 5 PUBACK reason code >= 0x80, for the log.
std::string_view puback_reason_name(int code);

// The gap records message (JSON) for a leased set of gap records.
std::string encode_gap_records(std::string_view gateway_id, const gap_lease& g);

// What the store still holds for the cloud, said at shutdown.
std::string describe_undelivered(const queue_stats& q);

}  // namespace fogbridge
