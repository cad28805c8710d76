#include "fogbridge/core/store.hpp"

namespace fogbridge::core {

bool ring_store::push(std::uint64_t boot, const reading& r, const sensor_info& sensor) {
    (void)sensor;  // the ring keeps the index into its own sensor table
    if (size_ == capacity_ || r.sensor >= sensor_count_) {
        return false;
    }
    if (size_ > 0 && (boot != boot_ || r.seq != front().seq + size_)) {
        return false;
    }
    boot_ = boot;
    slots_[(head_ + size_) % capacity_] = r;
    ++size_;
    return true;
}

std::size_t ring_store::drop_through(const reading_id& through) {
    const std::uint64_t boot = through.boot;
    const std::uint64_t seq = through.seq;
    if (!holds(boot) || seq < front().seq) {
        return 0;
    }
    auto n = static_cast<std::size_t>(seq - front().seq + 1);
    n = n < size_ ? n : size_;
    head_ = (head_ + n) % capacity_;
    size_ -= n;
    return n;
}

bool ring_store::get(std::uint64_t boot, std::uint64_t seq, reading_view& out) {
    if (!holds(boot) || seq < front().seq || seq - front().seq >= size_) {
        return false;
    }
    out.boot = boot_;
    out.r = slots_[(head_ + static_cast<std::size_t>(seq - front().seq)) % capacity_];
    out.sensor = sensors_[out.r.sensor].name;
    out.unit = sensors_[out.r.sensor].unit;
    return true;
}

bool ring_store::front_run(run& out) const {
    if (size_ == 0) {
        return false;
    }
    out = run{boot_, front().seq, front().seq + size_ - 1};
    return true;
}

}  // namespace fogbridge::core
