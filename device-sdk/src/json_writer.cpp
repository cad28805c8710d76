#include "json_writer.hpp"

#include <cmath>

namespace fogbridge::detail {

std::int64_t millis_of(double seconds) {
    if (!std::isfinite(seconds) || std::fabs(seconds) > 9.0e12) {
        return 0;
    }
    return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
}

core::reading_view core_view(const buffered_reading& r) {
    core::reading_view v;
    v.boot = r.boot;
    v.r.seq = r.seq;
    v.r.value = r.value;
    v.r.ts_ms = millis_of(r.ts);
    v.r.no_up = !(r.up && std::isfinite(*r.up) && *r.up >= 0);
    v.r.up_ms = !v.r.no_up ? static_cast<std::uint64_t>(millis_of(*r.up)) : 0;
    v.sensor = r.sensor.c_str();
    v.unit = r.unit.c_str();
    return v;
}

}  // namespace fogbridge::detail
