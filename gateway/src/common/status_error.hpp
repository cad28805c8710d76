// The last failure a status field reports (an error code and the text the log said), for health
// and /metrics. Plain data; thread safety is the holder's.
#pragma once

#include <string>
#include <system_error>

namespace fogbridge {

struct status_error {
    std::error_code code;  // a net_errc or store_errc; empty: no failure
    std::string text;      // the log's words for it

    explicit operator bool() const { return static_cast<bool>(code); }
};

}  // namespace fogbridge
