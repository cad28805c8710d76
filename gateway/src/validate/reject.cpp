#include "validate/reject.hpp"

namespace fogbridge {

std::string_view to_string(reject_reason r) {
    switch (r) {
        case reject_reason::too_large:
            return "too_large";
        case reject_reason::invalid_utf8:
            return "invalid_utf8";
        case reject_reason::bad_json:
            return "bad_json";
        case reject_reason::too_deep:
            return "too_deep";
        case reject_reason::not_object:
            return "not_object";
        case reject_reason::missing_field:
            return "missing_field";
        case reject_reason::wrong_type:
            return "wrong_type";
        case reject_reason::not_finite:
            return "not_finite";
        case reject_reason::bad_id:
            return "bad_id";
        case reject_reason::device_mismatch:
            return "device_mismatch";
        case reject_reason::ts_out_of_window:
            return "ts_out_of_window";
        case reject_reason::bad_seq:
            return "bad_seq";
        case reject_reason::too_many:
            return "too_many";
        case reject_reason::unknown_topic:
            return "unknown_topic";
        case reject_reason::series_limit:
            return "series_limit";
        case reject_reason::boot_limit:
            return "boot_limit";
    }
    return "unknown";
}

}  // namespace fogbridge
