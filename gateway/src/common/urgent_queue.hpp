// What the uplink sends outside batches, held in memory while it cannot send: alerts in a lane of
// their own that goes first, so no number of reports (health) can delay or push out an alert.
// Not thread-safe: the owner guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/publish_options.hpp"

namespace fogbridge {

enum class urgent_kind {
    alert,   // an event: each one matters, sent before any report
    report,  // a state (gateway or device health): only the newest per topic matters
};

struct urgent_message {
    std::string topic;
    std::string payload;
    fogbridge::retain retain = retain::no;
    urgent_kind kind = urgent_kind::report;
    std::string source;  // the device an alert came from: a full alert lane is shared fairly
};

class urgent_queue final {
  public:
    // Each lane holds at most `capacity` messages.
    explicit urgent_queue(std::size_t capacity) : capacity_(capacity) {}

    // A report replaces a report of the same topic that still waits. When the message's lane is
    // full one message is dropped (counted): for reports the oldest; for alerts the oldest of the
    // source holding the most, so a board that floods its alerts loses its own, not the others'.
    // The other lane is never touched.
    void push(urgent_message m);
    // The oldest alert, else the oldest report.
    std::optional<urgent_message> pop();
    // Puts back a message that pop() gave and that could not be sent, at the head of its lane
    // (a report only if no newer one of its topic came meanwhile).
    void push_front(urgent_message m);

    std::size_t size() const { return alerts_.size() + reports_.size(); }
    bool empty() const { return size() == 0; }
    std::uint64_t dropped(urgent_kind k) const {
        return k == urgent_kind::alert ? alerts_dropped_ : reports_dropped_;
    }

  private:
    void drop_an_alert();
    void count_alert(const urgent_message& m, int delta);

    std::size_t capacity_;
    std::deque<urgent_message> alerts_;
    std::deque<urgent_message> reports_;
    std::unordered_map<std::string, std::size_t> alerts_by_source_;
    std::uint64_t alerts_dropped_ = 0;
    std::uint64_t reports_dropped_ = 0;
};

}  // namespace fogbridge
