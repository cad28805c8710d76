// The two paths of decode_readings: a DOM-free scan for plain readings, and the DOM reference.
#pragma once

#include <optional>
#include <string_view>

#include "validate/decode.hpp"

namespace fogbridge {

// The readings of a payload that is one flat object or an array of flat objects, each of which
// decodes without any rejection, exactly as dom_decode_readings decodes them. nullopt means
// "not sure" (escapes, nesting, NaN literals, duplicate known keys, anything to reject, ...):
// the caller then takes the DOM path, so this never has to produce a rejection. Never throws
// except std::bad_alloc.
std::optional<decoded_readings> fast_decode_readings(device_message message, double now,
                                                     const decode_settings& settings);

// decode_readings without the fast path: the reference that the fast path is tested against.
decoded_readings dom_decode_readings(device_message message, double now,
                                     const decode_settings& settings);

}  // namespace fogbridge
