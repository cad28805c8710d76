#include "common/urgent_queue.hpp"

#include <algorithm>

namespace fogbridge {

void urgent_queue::push(urgent_message m) {
    const bool alert = m.kind == urgent_kind::alert;
    auto& lane = alert ? alerts_ : reports_;
    if (!alert) {
        // A board that floods its health topic then holds one place, not the whole lane.
        std::erase_if(lane, [&](const urgent_message& w) { return w.topic == m.topic; });
    }
    if (capacity_ == 0) {
        ++(alert ? alerts_dropped_ : reports_dropped_);
        return;
    }
    if (lane.size() >= capacity_) {
        if (alert) {
            drop_an_alert();
        } else {
            lane.pop_front();
        }
        ++(alert ? alerts_dropped_ : reports_dropped_);
    }
    if (alert) count_alert(m, 1);
    lane.push_back(std::move(m));
}

void urgent_queue::drop_an_alert() {
    const auto most =
        std::max_element(alerts_by_source_.begin(), alerts_by_source_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    auto it = alerts_.begin();
    if (most != alerts_by_source_.end()) {
        const auto& source = most->first;
        it = std::find_if(alerts_.begin(), alerts_.end(),
                          [&](const urgent_message& w) { return w.source == source; });
    }
    count_alert(*it, -1);
    alerts_.erase(it);
}

void urgent_queue::count_alert(const urgent_message& m, int delta) {
    auto& n = alerts_by_source_[m.source];
    n = delta > 0 ? n + 1 : n - 1;
    if (n == 0) alerts_by_source_.erase(m.source);
}

std::optional<urgent_message> urgent_queue::pop() {
    auto& lane = alerts_.empty() ? reports_ : alerts_;
    if (lane.empty()) return std::nullopt;
    auto m = std::move(lane.front());
    lane.pop_front();
    if (m.kind == urgent_kind::alert) count_alert(m, -1);
    return m;
}

void urgent_queue::push_front(urgent_message m) {
    if (m.kind == urgent_kind::alert) {
        count_alert(m, 1);
        alerts_.push_front(std::move(m));
        return;
    }
    // A newer report of the same topic came while this one was out: the newer one stands.
    const bool newer = std::any_of(reports_.begin(), reports_.end(),
                                   [&](const urgent_message& w) { return w.topic == m.topic; });
    if (!newer) reports_.push_front(std::move(m));
}

}  // namespace fogbridge
