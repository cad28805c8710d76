// Bounded store of one boot's unacknowledged readings, in seq order; not thread-safe (the owner
// locks). An interface so a file-backed store that survives a board reboot can replace memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace fogbridge {

struct buffered_reading {
    std::uint64_t seq = 0;
    std::string sensor;
    double value = 0.0;
    std::string unit;  // empty: none
    double ts = 0.0;   // seconds since the epoch, UTC

    bool operator==(const buffered_reading&) const = default;
};

class reading_buffer {
  public:
    virtual ~reading_buffer() = default;

    virtual std::size_t capacity() const = 0;
    virtual std::size_t size() const = 0;
    bool full() const { return size() >= capacity(); }
    bool empty() const { return size() == 0; }

    // Appends; reading.seq must be one past the last seq held (any seq when empty). False when
    // full or out of order, and nothing is stored.
    virtual bool push(buffered_reading reading) = 0;
    // Forgets every reading with seq <= `seq` (they were acknowledged); returns how many.
    virtual std::size_t drop_through(std::uint64_t seq) = 0;
    // Appends to `out` up to `max_count` readings with seq >= `from_seq`, in order; returns how
    // many.
    virtual std::size_t read(std::uint64_t from_seq, std::size_t max_count,
                             std::vector<buffered_reading>& out) const = 0;
    virtual std::optional<std::uint64_t> first_seq() const = 0;
    virtual std::optional<std::uint64_t> last_seq() const = 0;

  protected:
    reading_buffer() = default;
    reading_buffer(const reading_buffer&) = default;
    reading_buffer& operator=(const reading_buffer&) = default;
};

// Memory only: what a board loses on power-off was not yet acknowledged.
class memory_buffer final : public reading_buffer {
  public:
    explicit memory_buffer(std::size_t capacity);

    std::size_t capacity() const override { return capacity_; }
    std::size_t size() const override { return items_.size(); }
    bool push(buffered_reading reading) override;
    std::size_t drop_through(std::uint64_t seq) override;
    std::size_t read(std::uint64_t from_seq, std::size_t max_count,
                     std::vector<buffered_reading>& out) const override;
    std::optional<std::uint64_t> first_seq() const override;
    std::optional<std::uint64_t> last_seq() const override;

  private:
    std::size_t capacity_;
    std::deque<buffered_reading> items_;
};

}  // namespace fogbridge
