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
        lane.pop_front();
        ++(alert ? alerts_dropped_ : reports_dropped_);
    }
    lane.push_back(std::move(m));
}

std::optional<urgent_message> urgent_queue::pop() {
    auto& lane = alerts_.empty() ? reports_ : alerts_;
    if (lane.empty()) return std::nullopt;
    auto m = std::move(lane.front());
    lane.pop_front();
    return m;
}

void urgent_queue::push_front(urgent_message m) {
    if (m.kind == urgent_kind::alert) {
        alerts_.push_front(std::move(m));
        return;
    }
    // A newer report of the same topic came while this one was out: the newer one stands.
    const bool newer = std::any_of(reports_.begin(), reports_.end(),
                                   [&](const urgent_message& w) { return w.topic == m.topic; });
    if (!newer) reports_.push_front(std::move(m));
}

}  // namespace fogbridge
