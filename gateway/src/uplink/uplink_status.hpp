// What the uplink reports to health and /metrics. Plain data; the uplink hands out copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status_error.hpp"

namespace fogbridge {

enum class uplink_state { disconnected, connecting, connected };
std::string_view to_string(uplink_state s);

struct uplink_status {
    uplink_state state = uplink_state::disconnected;
    double since = 0;  // wall time of the last state change
    std::uint64_t connects = 0;
    std::uint64_t batches_sent = 0;
    std::uint64_t replay_batches_sent = 0;  // of them, from the backlog (tagged "replay")
    std::uint64_t batches_acked = 0;
    std::uint64_t batches_refused = 0;  // PUBACK with an error reason code
    std::uint64_t readings_acked = 0;
    std::uint64_t bytes_sent = 0;  // batch payload bytes put on the wire (after compression)
    std::uint64_t urgent_sent = 0;
    std::uint64_t alerts_dropped = 0;   // alerts pushed out of their full lane while disconnected
    std::uint64_t reports_dropped = 0;  // health reports likewise (a newer one of a topic replaces)
    std::uint64_t store_errors = 0;     // store calls that failed and ended a session
    std::size_t in_flight = 0;
    // How long the message waiting longest for its PUBACK has waited (empty: none in flight).
    std::optional<double> oldest_unacked_age_s;
    status_error last_error;  // why the last session ended (a net_errc or store_errc); empty: none
    std::optional<double> cert_days_left;  // the client certificate in use
};

}  // namespace fogbridge
