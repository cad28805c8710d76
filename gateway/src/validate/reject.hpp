// Why the gateway refused an input: stable reason codes (counter labels) and a short detail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fogbridge {

enum class reject_reason {
    too_large,
    invalid_utf8,
    bad_json,
    too_deep,
    not_object,
    missing_field,
    wrong_type,
    not_finite,
    bad_id,
    device_mismatch,
    ts_out_of_window,
    bad_seq,
    too_many,
    unknown_topic,
    series_limit,  // a new sensor name beyond validate.max_series_per_device
    boot_limit,    // a new boot beyond validate.max_boots_per_device
};

// snake_case name of the reason; stable, used as a metrics label.
std::string_view to_string(reject_reason r);

struct rejection {
    reject_reason reason = reject_reason::bad_json;
    std::string detail;  // short and human; never a copy of large input
    // The array element this is about, when the payload was an array.
    std::optional<std::size_t> index;
    // The element's (boot, seq) when both were readable and valid, so the gateway can still mark
    // the reading as processed and let the device's acknowledged mark move past it.
    std::optional<std::uint64_t> boot;
    std::optional<std::uint64_t> seq;
};

}  // namespace fogbridge
