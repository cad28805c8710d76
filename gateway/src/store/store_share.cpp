// The per-board share of a full store: under drop_oldest, the boards holding more than their share
// give up their own oldest pending readings first. See README.md, "Limits and gap records".
#include <algorithm>
#include <utility>

#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

// A board's share is measured in the unit of the limit that is short: readings for max_rows,
// bytes for max_bytes and free disk space.
std::uint64_t measure(const held_count& h, drop_reason reason) {
    return reason == drop_reason::store_full_rows ? h.rows : h.bytes;
}

}  // namespace

void add_held(held_by_device& to, std::int64_t device, const held_count& more) {
    held_count& h = to[device];
    h.rows += more.rows;
    h.bytes += more.bytes;
}

void add_held(held_by_device& to, const held_by_device& more) {
    for (const auto& [device, h] : more) {
        add_held(to, device, h);
    }
}

void remove_held(held_by_device& from, const held_by_device& gone) {
    for (const auto& [device, g] : gone) {
        const auto it = from.find(device);
        if (it == from.end()) {
            continue;
        }
        it->second.rows -= std::min(it->second.rows, g.rows);
        it->second.bytes -= std::min(it->second.bytes, g.bytes);
        if (it->second.rows == 0) {
            from.erase(it);
        }
    }
}

// The share is what the store holds (with this commit) over the boards holding anything. The
// boards over it, the largest first, each give up their oldest pending readings (never leased
// ones, nor this commit's) until they are down to the share or the room is made.
share_candidates store::impl::candidates_over_share(room_needed& need, held_by_device boards,
                                                    std::int64_t first_new_id) {
    share_candidates out;
    if (boards.size() < 2 || !need.any()) {
        return out;
    }
    const drop_reason unit = need.reason();
    std::uint64_t total = 0;
    for (const auto& [device, h] : boards) {
        total += measure(h, unit);
    }
    const std::uint64_t share = total / boards.size();
    std::vector<std::pair<std::uint64_t, std::int64_t>> over;  // (held, device), largest first
    for (const auto& [device, h] : boards) {
        if (measure(h, unit) > share) {
            over.emplace_back(measure(h, unit), device);
        }
    }
    std::sort(over.begin(), over.end(), std::greater<>());
    sqlite::statement& s = st.device_candidates;
    for (const auto& [size, device] : over) {
        held_count& h = boards[device];
        const sqlite::reset_on_exit guard(s);
        s.bind_int(1, device);
        s.bind_int(2, lanes.leased_upto);
        s.bind_int(3, first_new_id);
        while (need.any() && measure(h, unit) > share && s.step()) {
            if (!lanes.pending(s.column_int(0))) {
                continue;  // leased
            }
            const drop_candidate& c =
                out.candidates.emplace_back(read_candidate(devices, s, need.reason()));
            need.take(c.bytes);
            h.rows -= std::min<std::uint64_t>(h.rows, 1);
            h.bytes -= std::min<std::uint64_t>(h.bytes, c.bytes);
        }
        out.over_share_left = out.over_share_left || measure(h, unit) > share;
        if (!need.any()) {
            break;
        }
    }
    return out;
}

}  // namespace fogbridge
