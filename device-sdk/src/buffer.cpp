#include "fogbridge/buffer.hpp"

#include <algorithm>

namespace fogbridge {

memory_buffer::memory_buffer(std::size_t capacity) : capacity_(capacity) {}

bool memory_buffer::push(buffered_reading reading) {
    if (items_.size() >= capacity_) {
        return false;
    }
    if (!items_.empty() && reading.seq != items_.back().seq + 1) {
        return false;
    }
    items_.push_back(std::move(reading));
    return true;
}

std::size_t memory_buffer::drop_through(std::uint64_t seq) {
    std::size_t dropped = 0;
    while (!items_.empty() && items_.front().seq <= seq) {
        items_.pop_front();
        ++dropped;
    }
    return dropped;
}

std::size_t memory_buffer::read(std::uint64_t from_seq, std::size_t max_count,
                                std::vector<buffered_reading>& out) const {
    if (items_.empty() || from_seq > items_.back().seq) {
        return 0;
    }
    // Seqs are contiguous, so a seq's position is its distance from the front.
    const std::uint64_t front = items_.front().seq;
    const auto start = static_cast<std::size_t>(from_seq > front ? from_seq - front : 0);
    const std::size_t count = std::min(max_count, items_.size() - start);
    const auto first = items_.begin() + static_cast<std::ptrdiff_t>(start);
    out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(count));
    return count;
}

std::optional<std::uint64_t> memory_buffer::first_seq() const {
    if (items_.empty()) {
        return std::nullopt;
    }
    return items_.front().seq;
}

std::optional<std::uint64_t> memory_buffer::last_seq() const {
    if (items_.empty()) {
        return std::nullopt;
    }
    return items_.back().seq;
}

}  // namespace fogbridge
