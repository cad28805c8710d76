// Bounded store of unacknowledged readings, oldest first, possibly of several boots (a file
// buffer reloads earlier boots' readings); not thread-safe (the owner locks). An interface:
// memory_buffer here, file_buffer (file_buffer.hpp) survives a board reboot.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "fogbridge/core/store.hpp"

namespace fogbridge {

struct buffered_reading {
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
    std::string sensor;
    double value = 0.0;
    std::string unit;  // empty: none
    double ts = 0.0;   // seconds since the epoch, UTC
    // Seconds since the board booted (monotonic): lets the gateway place ts on its own clock
    // when the board's clock is unset or far off. A file buffer keeps it across restarts.
    std::optional<double> up = std::nullopt;

    bool operator==(const buffered_reading&) const = default;
};

// The readings of one boot held in a buffer: every seq first_seq..last_seq, in order.
struct buffered_run {
    std::uint64_t boot = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;

    std::size_t size() const { return static_cast<std::size_t>(last_seq - first_seq + 1); }
    bool operator==(const buffered_run&) const = default;
};

using core::reading_id;

// What reading_buffer::read returns: up to max_count readings of boot from from_seq on.
struct read_request {
    std::uint64_t boot = 0;
    std::uint64_t from_seq = 0;
    std::size_t max_count = 0;
};

// The buffer is a queue of runs: readings leave it only from the front. The session sends an
// earlier boot's readings only after they are all acknowledged, so acks arrive in queue order.
class reading_buffer {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    virtual ~reading_buffer() = default;

    virtual std::size_t capacity() const = 0;
    virtual std::size_t size() const = 0;
    // True when push() would refuse any reading for lack of room.
    virtual bool full() const { return size() >= capacity(); }
    bool empty() const { return size() == 0; }

    // Appends. The reading must continue the last run (its boot, seq one past its last) or
    // start a run of a boot not held yet (any seq). False when full or out of order, and
    // nothing is stored.
    virtual bool push(buffered_reading reading) = 0;
    // Acknowledgement in queue order: forgets every reading stored before the run of
    // through.boot and that run's readings with seq <= through.seq. Returns how many; 0 (and
    // nothing changes) when no run of that boot is held.
    virtual std::size_t drop_through(const reading_id& through) = 0;
    // Appends to `out` up to req.max_count readings of req.boot with seq >= req.from_seq, in
    // order; returns how many.
    virtual std::size_t read(const read_request& req, std::vector<buffered_reading>& out) const = 0;
    // Oldest first.
    virtual std::vector<buffered_run> runs() const = 0;
    virtual std::optional<buffered_run> front_run() const = 0;

    // Durability work that waits for a time (an fsync due later): when sync_due() should run
    // next, nullopt when nothing waits. Memory has nothing to do.
    virtual std::optional<time_point> sync_deadline() const { return std::nullopt; }
    virtual void sync_due(time_point /*now*/) {}

  protected:
    reading_buffer() = default;
    reading_buffer(const reading_buffer&) = default;
    reading_buffer& operator=(const reading_buffer&) = default;
};

// The queue of runs in memory; memory_buffer and file_buffer keep their readings in one.
// Not thread-safe.
class reading_queue final {
  public:
    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    // As reading_buffer::push without the capacity check.
    bool push(buffered_reading reading);
    // Whether push() would take it.
    bool accepts(const buffered_reading& reading) const;
    std::size_t drop_through(const reading_id& through);
    std::size_t read(const read_request& req, std::vector<buffered_reading>& out) const;
    std::vector<buffered_run> runs() const { return {runs_.begin(), runs_.end()}; }
    std::optional<buffered_run> front_run() const;
    bool holds(std::uint64_t boot) const;

  private:
    void pop_front(std::size_t count);

    std::deque<buffered_reading> items_;
    std::deque<buffered_run> runs_;
};

// Memory only: what a board loses on power-off was not yet acknowledged.
class memory_buffer final : public reading_buffer {
  public:
    explicit memory_buffer(std::size_t capacity);

    std::size_t capacity() const override { return capacity_; }
    std::size_t size() const override { return queue_.size(); }
    bool push(buffered_reading reading) override;
    std::size_t drop_through(const reading_id& through) override;
    std::size_t read(const read_request& req, std::vector<buffered_reading>& out) const override;
    std::vector<buffered_run> runs() const override { return queue_.runs(); }
    std::optional<buffered_run> front_run() const override { return queue_.front_run(); }

  private:
    std::size_t capacity_;
    reading_queue queue_;
};

}  // namespace fogbridge
