// Swinging-door mode: the fewest kept points whose lines pass within E of every reading, planned
// over a window of held readings (see significant_change_filter.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "filter/decide.hpp"

namespace fogbridge {
namespace {

// Slack on slope comparisons, as a fraction of the values involved (cf. deadband.cpp).
constexpr double value_rel_eps = 1e-12;
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr std::size_t unreachable = std::numeric_limits<std::size_t>::max();

struct point {
    double ts;
    double value;
};

using node = door_plan_node;  // node 0 is the anchor, node i the held reading i - 1
using plan = std::vector<node>;

point at(const node& n) { return {n.ts, n.value}; }

double slack(double a, double b, double e) {
    return value_rel_eps * std::max({std::fabs(a), std::fabs(b), e});
}

// Whether the line from q to p passes within E of every reading between them.
bool line_fits(const node& q, point p, double e) {
    if (p.ts > q.ts) {
        const double dt = p.ts - q.ts;
        const double slope = (p.value - q.value) / dt;
        const double s = slack(p.value, q.value, e) / dt;
        return slope >= q.slope_lo - s && slope <= q.slope_hi + s;
    }
    // The same instant has no line: only when nothing lies between that constrains one.
    return q.slope_lo == -inf && q.slope_hi == inf;
}

bool spaced(const node& q, point p, const filter_rule& rule) {
    return rule.min_interval <= 0 || reached(p.ts - q.ts, rule.min_interval, p.ts);
}

// p now lies between q and any later end point of a segment from q.
void narrow(node& q, point p, const filter_rule& rule) {
    const double e = rule.deviation;
    if (p.ts > q.ts) {
        const double dt = p.ts - q.ts;
        const double rise = p.value - q.value;
        q.slope_lo = std::max(q.slope_lo, (rise - e) / dt);
        q.slope_hi = std::min(q.slope_hi, (rise + e) / dt);
    } else if (std::fabs(p.value - q.value) > e + slack(p.value, q.value, e)) {
        q.slope_lo = inf;  // no line from q passes p
        q.slope_hi = -inf;
    }
    if (rule.heartbeat > 0 && reached(p.ts - q.ts, rule.heartbeat, p.ts)) {
        q.capped = true;
    }
}

// The best predecessor of node j: reachable, not capped, its line fits (and min_interval is
// met); the fewest kept points, the latest on ties (the longest last segment).
void link(plan& nodes, std::size_t j, const filter_rule& rule) {
    const point p = at(nodes[j]);
    const auto pick = [&](bool need_fit) {
        std::size_t best = unreachable;
        for (std::size_t q = 0; q < j; ++q) {
            const node& n = nodes[q];
            if (n.kept == unreachable || n.capped || !spaced(n, p, rule) ||
                (need_fit && !line_fits(n, p, rule.deviation))) {
                continue;
            }
            if (best == unreachable || n.kept <= nodes[best].kept) {
                best = q;
            }
        }
        return best;
    };
    std::size_t best = pick(true);
    if (best == unreachable && rule.min_interval > 0) {
        best = pick(false);  // no line that far apart fits: the rate cap wins over the bound
    }
    if (best != unreachable) {
        nodes[j].kept = nodes[best].kept + 1;
        nodes[j].parent = best;
    }
}

// Adds the newest held reading to the plan: its best predecessor, then its constraint on the
// lines from every earlier point. O(held).
void add_node(plan& nodes, point p, const filter_rule& rule) {
    nodes.push_back({.ts = p.ts, .value = p.value, .kept = unreachable});
    const std::size_t j = nodes.size() - 1;
    link(nodes, j, rule);
    for (std::size_t q = 0; q < j; ++q) {
        narrow(nodes[q], p, rule);
    }
}

door_state::plan_rule plan_rule_of(const filter_rule& rule) {
    return {.deviation = rule.deviation,
            .heartbeat = rule.heartbeat,
            .min_interval = rule.min_interval};
}

// Shortest paths (fewest kept points) from the anchor over the held readings: the cached plan,
// extended by the newest held reading or worked out again.
const plan& plan_of(series_state& s, const filter_rule& rule) {
    door_state& door = s.door;
    plan& nodes = door.plan;
    const auto key = plan_rule_of(rule);
    const bool same = !nodes.empty() && door.plan_for == key && nodes.front().ts == s.anchor_ts &&
                      nodes.front().value == s.anchor_value;
    if (same && nodes.size() == door.held.size()) {
        const reading& newest = door.held.back();
        add_node(nodes, {newest.ts, newest.value}, rule);
        return nodes;
    }
    if (same && nodes.size() == door.held.size() + 1) {
        return nodes;
    }
    nodes.clear();
    door.plan_for = key;
    nodes.push_back({.ts = s.anchor_ts,
                     .value = s.anchor_value,
                     .slope_lo = door.anchor_slope_lo,
                     .slope_hi = door.anchor_slope_hi,
                     .kept = 0});
    for (const auto& r : door.held) {
        add_node(nodes, {r.ts, r.value}, rule);
    }
    return nodes;
}

// The kept points of the best line from the anchor to node `target`, in order, the anchor left
// out. A target no line reaches (possible only with min_interval) is joined to the anchor.
std::vector<std::size_t> path_to(const plan& nodes, std::size_t target) {
    std::vector<std::size_t> out{target};
    if (nodes[target].kept == unreachable) {
        return out;
    }
    for (std::size_t at = nodes[target].parent; at != 0; at = nodes[at].parent) {
        out.push_back(at);
    }
    std::reverse(out.begin(), out.end());
    return out;
}

// Keeps the held readings at plan nodes `keep` (ascending) and drops the ones before the last of
// them, which becomes the anchor; forwarded at `now`. When `current` is set, the newest held
// reading is the one being decided: kept, it gets `decision` instead of going to out.emit.
void keep_held(series_state& s, std::span<const std::size_t> keep, double now, bool current,
               filter_decision decision, step_result& out) {
    auto& held = s.door.held;
    const reading& last = held[keep.back() - 1];
    s.anchor_ts = last.ts;
    s.anchor_value = last.value;
    s.forwarded_ts = now;
    std::size_t next = 1;  // the first node not settled yet
    for (const std::size_t j : keep) {
        out.held_dropped += j - next;
        next = j + 1;
        if (current && j == held.size()) {
            out.decision = decision;
        } else {
            out.emit.push_back(std::move(held[j - 1]));
        }
    }
    held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(keep.back()));
    s.door.anchor_slope_lo = -inf;
    s.door.anchor_slope_hi = inf;
    s.door.plan.clear();  // a new anchor: every line changes
}

// Drops the oldest held reading for good (the window is full and the best line skips it); the
// anchor's slope range keeps it in account.
void drop_oldest(series_state& s, const filter_rule& rule, step_result& out) {
    door_state& door = s.door;
    node anchor{.ts = s.anchor_ts,
                .value = s.anchor_value,
                .slope_lo = door.anchor_slope_lo,
                .slope_hi = door.anchor_slope_hi};
    narrow(anchor, {door.held.front().ts, door.held.front().value}, rule);
    door.anchor_slope_lo = anchor.slope_lo;
    door.anchor_slope_hi = anchor.slope_hi;
    door.held.erase(door.held.begin());
    ++out.held_dropped;
    // The plan stays right without node 1 unless a best line went through it (the anchor's
    // slope range there already counts it).
    plan& nodes = door.plan;
    const bool used = std::any_of(nodes.begin(), nodes.end(), [](const node& n) {
        return n.kept != unreachable && n.parent == 1;
    });
    if (used || nodes.size() < 2) {
        nodes.clear();
        return;
    }
    nodes.erase(nodes.begin() + 1);
    for (auto& n : nodes) {
        n.parent -= n.parent > 1 ? 1 : 0;
    }
}

}  // namespace

step_result door_step(series_state& s, const filter_rule& rule, const reading& r) {
    step_result out;
    auto& held = s.door.held;
    // The next reading is expected as far after this one as this one came after the previous.
    const double next_ts = r.ts + (r.ts - s.last_received_ts);
    const double heartbeat = rule.heartbeat;
    held.push_back(r);
    if (heartbeat > 0 && reached(r.ts - s.forwarded_ts, heartbeat, r.ts)) {
        // Nothing forwarded for a heartbeat: r is kept, after the best line's points before it.
        const auto path = path_to(plan_of(s, rule), held.size());
        keep_held(s, path, r.ts, true, filter_decision::keep_heartbeat, out);
        return out;
    }
    while (!held.empty()) {
        const std::size_t newest = held.size();
        const std::size_t first = path_to(plan_of(s, rule), newest).front();
        const std::span<const std::size_t> keep_first{&first, 1};
        // Two reasons to keep the same point, each with its own why: kept as two branches.
        // NOLINTBEGIN(bugprone-branch-clone)
        if (heartbeat > 0 && first != newest &&
            reached(next_ts - s.forwarded_ts, heartbeat, next_ts)) {
            // NOLINTEND(bugprone-branch-clone)
            // Forward the line's next point now, or the heartbeat would keep the next reading.
            keep_held(s, keep_first, r.ts, true, filter_decision::keep_change, out);
        } else if (heartbeat > 0 && (reached(r.ts - held.front().ts, heartbeat, r.ts) ||
                                     exceeded(next_ts - held.front().ts, heartbeat, next_ts))) {
            // The oldest held reading must be settled before it is held for a heartbeat.
            keep_held(s, keep_first, r.ts, true, filter_decision::keep_change, out);
        } else if (held.size() > door_max_held) {
            if (first == 1) {
                keep_held(s, keep_first, r.ts, true, filter_decision::keep_change, out);
            } else {
                drop_oldest(s, rule, out);
            }
        } else {
            break;
        }
    }
    out.now_held = !held.empty();
    return out;
}

step_result flush_held(series_state& s, const filter_rule& rule) {
    step_result out;
    auto& held = s.door.held;
    if (held.empty()) {
        return out;
    }
    const double now = held.back().ts;
    if (rule.mode == filter_mode::swinging_door) {
        const auto path = path_to(plan_of(s, rule), held.size());
        keep_held(s, path, now, false, filter_decision::drop, out);
        return out;
    }
    std::vector<std::size_t> all(held.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        all[i] = i + 1;
    }
    keep_held(s, all, now, false, filter_decision::drop, out);
    return out;
}

}  // namespace fogbridge
