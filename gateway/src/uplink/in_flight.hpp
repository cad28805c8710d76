// The messages published to the cloud broker and not yet acknowledged, each with its own PUBACK
// deadline counted from its send on a steady clock passed in. No I/O; not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace fogbridge {

// T is what the caller keeps per message (a leased batch, a gap record id...).
template <typename T>
class in_flight_window final {
  public:
    using clock = std::chrono::steady_clock;

    struct acknowledged {
        T item;
        clock::duration latency;  // from the send to the PUBACK
    };

    // timeout <= 0: no deadline (the watchdog is off).
    explicit in_flight_window(clock::duration timeout) : timeout_(timeout) {}

    void add(int mid, T item, clock::time_point now) {
        erase(mid);  // libmosquitto does not reuse a live id; if it did, the newer send counts
        entries_.emplace(mid, entry{std::move(item), now});
        by_send_.emplace(now, mid);
    }

    // The message's PUBACK came: nullopt when it is not (or no longer) in flight.
    std::optional<acknowledged> take(int mid, clock::time_point now) {
        const auto it = entries_.find(mid);
        if (it == entries_.end()) return std::nullopt;
        acknowledged out{std::move(it->second.item), now - it->second.sent};
        by_send_.erase({it->second.sent, mid});
        entries_.erase(it);
        return out;
    }

    void clear() {
        entries_.clear();
        by_send_.clear();
    }
    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }

    // When the oldest unacknowledged message was sent.
    std::optional<clock::time_point> oldest_sent() const {
        if (by_send_.empty()) return std::nullopt;
        return by_send_.begin()->first;
    }
    std::optional<clock::duration> oldest_age(clock::time_point now) const {
        const auto sent = oldest_sent();
        if (!sent) return std::nullopt;
        return now - *sent;
    }
    // The earliest PUBACK deadline, for a caller that sleeps until it; nullopt when none runs.
    std::optional<clock::time_point> next_deadline() const {
        const auto sent = oldest_sent();
        if (!sent || timeout_ <= clock::duration::zero()) return std::nullopt;
        return *sent + timeout_;
    }
    // Some message waited longer than the timeout for its PUBACK: the link is presumed dead,
    // however many others were acknowledged since.
    bool overdue(clock::time_point now) const {
        const auto deadline = next_deadline();
        return deadline && now > *deadline;
    }
    const T* find(int mid) const {
        const auto it = entries_.find(mid);
        return it == entries_.end() ? nullptr : &it->second.item;
    }
    // The id of the oldest message in flight (for the log line that names it).
    std::optional<int> oldest_mid() const {
        if (by_send_.empty()) return std::nullopt;
        return by_send_.begin()->second;
    }

  private:
    struct entry {
        T item;
        clock::time_point sent;
    };
    void erase(int mid) {
        const auto it = entries_.find(mid);
        if (it == entries_.end()) return;
        by_send_.erase({it->second.sent, mid});
        entries_.erase(it);
    }

    clock::duration timeout_;
    std::map<int, entry> entries_;
    std::set<std::pair<clock::time_point, int>> by_send_;  // oldest send first
};

}  // namespace fogbridge
