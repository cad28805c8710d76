// Drop reasons by name, and the drop counters by reason (store.hpp).
#include <optional>
#include <string_view>

#include "store/store.hpp"

namespace fogbridge {

std::string_view to_string(drop_reason reason) {
    switch (reason) {
        case drop_reason::store_full_bytes:
            return "store_full_bytes";
        case drop_reason::store_full_rows:
            return "store_full_rows";
        case drop_reason::disk_low:
            return "disk_low";
        case drop_reason::ttl:
            return "ttl";
        case drop_reason::store_lost:
            return "store_lost";
    }
    return "unknown";
}

std::optional<drop_reason> drop_reason_from(std::string_view name) {
    for (const drop_reason r : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                                drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        if (to_string(r) == name) {
            return r;
        }
    }
    return std::nullopt;
}

namespace {

// One switch for the const and the mutable operator[].
template <typename counts>
auto& count_of(counts& c, drop_reason reason) {
    switch (reason) {
        case drop_reason::store_full_bytes:
            return c.store_full_bytes;
        case drop_reason::store_full_rows:
            return c.store_full_rows;
        case drop_reason::disk_low:
            return c.disk_low;
        case drop_reason::store_lost:
            return c.store_lost;
        case drop_reason::ttl:
            break;
    }
    return c.ttl;
}

}  // namespace

std::uint64_t& drop_counts::operator[](drop_reason reason) { return count_of(*this, reason); }

std::uint64_t drop_counts::operator[](drop_reason reason) const { return count_of(*this, reason); }

std::uint64_t drop_counts::total() const {
    return store_full_bytes + store_full_rows + disk_low + ttl + store_lost;
}

}  // namespace fogbridge
