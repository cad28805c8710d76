#include "store/lanes.hpp"

#include <algorithm>

namespace fogbridge {

bool lane_marks::pending(std::int64_t id) const {
    if (id <= leased_upto) {
        return false;
    }
    const auto it = std::upper_bound(leased.begin(), leased.end(), id,
                                     [](std::int64_t v, const id_range& r) { return v < r.first; });
    return it == leased.begin() || std::prev(it)->last < id;
}

std::vector<id_span> lane_marks::pending_spans(id_span within) const {
    const std::int64_t upto = within.hi;
    std::vector<id_span> out;
    std::int64_t lo = std::max(within.lo, leased_upto);
    for (const id_range& r : leased) {
        if (r.last <= lo) {
            continue;
        }
        if (r.first > upto) {
            break;
        }
        if (r.first - 1 > lo) {
            out.push_back({lo, r.first - 1});
        }
        lo = r.last;
    }
    if (lo < upto) {
        out.push_back({lo, upto});
    }
    return out;
}

void lane_marks::add(id_range r) {
    if (r.first > r.last) {
        return;
    }
    const auto it =
        std::lower_bound(leased.begin(), leased.end(), r,
                         [](const id_range& a, const id_range& b) { return a.first < b.first; });
    leased.insert(it, r);
}

void lane_marks::remove(id_range r) { std::erase(leased, r); }

}  // namespace fogbridge
