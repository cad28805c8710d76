// Where the core keeps readings until the gateway acknowledges them: the reading_store interface
// (a queue of runs, one per boot) and ring_store, the RAM ring a board uses without persistent
// storage. A platform with flash or a file implements reading_store so a reset loses nothing.
// Not thread-safe; no heap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fogbridge::core {

struct sensor_info {
    const char* name;  // 1-64 of [A-Za-z0-9_.-]
    const char* unit;  // "" for none
};

// One buffered reading (40 bytes on a 32-bit board).
struct reading {
    std::uint64_t seq = 0;
    double value = 0.0;
    std::int64_t ts_ms = 0;   // wall time, 0 when the board does not know it
    std::uint64_t up_ms = 0;  // since the board booted
    std::uint8_t sensor = 0;
    bool no_up = false;  // true only for readings from a source that does not know it
};

// A stored reading as a store hands it back; the strings stay valid until the store's next call.
struct reading_view {
    std::uint64_t boot = 0;
    reading r;
    const char* sensor = "";
    const char* unit = "";
};

// A reading's identity: its boot and its seq in that boot.
struct reading_id {
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
};

// The readings of one boot held in a store: every seq first_seq..last_seq, in order.
struct run {
    std::uint64_t boot = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
};

class reading_store {
  public:
    virtual std::size_t capacity() const = 0;
    virtual std::size_t size() const = 0;
    // Appends `r` of `boot` (sensor names the strings to keep). It continues the last run (seq
    // one past its last) or starts a run of a boot not held. False when full: nothing stored.
    virtual bool push(std::uint64_t boot, const reading& r, const sensor_info& sensor) = 0;
    // Forgets every reading before the run of through.boot and that run's seqs <= through.seq;
    // returns how many (0, and no change, when no run of that boot is held).
    virtual std::size_t drop_through(const reading_id& through) = 0;
    // The reading (boot, seq); false when not held.
    virtual bool get(std::uint64_t boot, std::uint64_t seq, reading_view& out) = 0;
    // The oldest run; false when empty.
    virtual bool front_run(run& out) const = 0;
    virtual bool holds(std::uint64_t boot) const = 0;

  protected:
    ~reading_store() = default;
};

// Readings in a caller-owned RAM ring: they are lost with the board's RAM at a reset, so it
// holds one boot at a time.
class ring_store final : public reading_store {
  public:
    ring_store(reading* slots, std::size_t capacity, const sensor_info* sensors,
               std::size_t sensor_count)
        : slots_(slots), capacity_(capacity), sensors_(sensors), sensor_count_(sensor_count) {}

    std::size_t capacity() const override { return capacity_; }
    std::size_t size() const override { return size_; }
    bool push(std::uint64_t boot, const reading& r, const sensor_info& sensor) override;
    std::size_t drop_through(const reading_id& through) override;
    bool get(std::uint64_t boot, std::uint64_t seq, reading_view& out) override;
    bool front_run(run& out) const override;
    bool holds(std::uint64_t boot) const override { return size_ > 0 && boot == boot_; }

  private:
    const reading& front() const { return slots_[head_]; }

    reading* slots_;
    std::size_t capacity_;
    const sensor_info* sensors_;
    std::size_t sensor_count_;
    std::uint64_t boot_ = 0;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace fogbridge::core
