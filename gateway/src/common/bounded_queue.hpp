// A bounded, move-only FIFO between threads; push blocks when full (backpressure). Thread-safe,
// for any number of producers and one consumer. A push wakes the consumer only when the queue
// reaches the size it waits for, so a consumer that gathers a group is not woken per item.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace fogbridge {

template <typename T>
class bounded_queue final {
  public:
    explicit bounded_queue(std::size_t capacity) : capacity_(capacity) {}

    // Returns false when the queue was closed.
    bool push(T item) {
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
        if (closed_) return false;
        items_.push_back(std::move(item));
        const bool wake = items_.size() == wake_at_;
        lock.unlock();
        if (wake) not_empty_.notify_one();
        return true;
    }

    // Moves every item of `items` in, in order, under one lock (blocking while full); clears
    // `items`. Returns false when the queue was closed (items not yet in are dropped).
    bool push_all(std::vector<T>& items) {
        std::unique_lock lock(mutex_);
        for (T& item : items) {
            not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
            if (closed_) break;
            items_.push_back(std::move(item));
            if (items_.size() == wake_at_) not_empty_.notify_one();
        }
        items.clear();
        return !closed_;
    }

    // Waits until the queue holds at least `n` items, it is closed, or `deadline` passes.
    void wait_for_size(std::size_t n, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        wake_at_ = std::max<std::size_t>(n, 1);
        not_empty_.wait_until(lock, deadline, [&] { return closed_ || items_.size() >= n; });
        wake_at_ = 1;
    }

    // Moves up to `max` items into `out`, waiting up to `timeout` for the first one.
    std::size_t pop_some(std::vector<T>& out, std::size_t max, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
        std::size_t n = 0;
        while (n < max && !items_.empty()) {
            out.push_back(std::move(items_.front()));
            items_.pop_front();
            ++n;
        }
        lock.unlock();
        if (n > 0) not_full_.notify_all();
        return n;
    }

    void close() {
        {
            const std::lock_guard lock(mutex_);
            closed_ = true;
        }
        not_full_.notify_all();
        not_empty_.notify_all();
    }

    bool closed() const {
        const std::lock_guard lock(mutex_);
        return closed_;
    }

    std::size_t size() const {
        const std::lock_guard lock(mutex_);
        return items_.size();
    }

  private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable not_full_;
    std::condition_variable not_empty_;
    std::deque<T> items_;
    std::size_t wake_at_ = 1;  // the size at which a push wakes the waiting consumer
    bool closed_ = false;
};

}  // namespace fogbridge
