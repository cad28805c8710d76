#include "fogbridge/buffer.hpp"

#include <algorithm>

namespace fogbridge {

bool reading_queue::holds(std::uint64_t boot) const {
    return std::any_of(runs_.begin(), runs_.end(),
                       [boot](const buffered_run& r) { return r.boot == boot; });
}

bool reading_queue::accepts(const buffered_reading& reading) const {
    if (!runs_.empty() && runs_.back().boot == reading.boot) {
        return reading.seq == runs_.back().last_seq + 1;
    }
    return reading.seq != 0 && !holds(reading.boot);
}

bool reading_queue::push(buffered_reading reading) {
    if (!accepts(reading)) {
        return false;
    }
    if (!runs_.empty() && runs_.back().boot == reading.boot) {
        runs_.back().last_seq = reading.seq;
    } else {
        runs_.push_back(buffered_run{reading.boot, reading.seq, reading.seq});
    }
    items_.push_back(std::move(reading));
    return true;
}

std::size_t reading_queue::drop_through(const reading_id& through) {
    const std::uint64_t boot = through.boot;
    const std::uint64_t seq = through.seq;
    std::size_t count = 0;
    for (const auto& run : runs_) {
        if (run.boot == boot) {
            if (seq >= run.first_seq) {
                count += static_cast<std::size_t>(std::min(seq, run.last_seq) - run.first_seq + 1);
            }
            pop_front(count);
            return count;
        }
        count += run.size();
    }
    return 0;
}

void reading_queue::pop_front(std::size_t count) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(count));
    while (count > 0) {
        auto& front = runs_.front();
        if (front.size() <= count) {
            count -= front.size();
            runs_.pop_front();
        } else {
            front.first_seq += count;
            count = 0;
        }
    }
}

std::size_t reading_queue::read(const read_request& req, std::vector<buffered_reading>& out) const {
    const std::uint64_t boot = req.boot;
    const std::uint64_t from_seq = req.from_seq;
    const std::size_t max_count = req.max_count;
    // Seqs are contiguous within a run, so a reading's position is its run's offset plus its
    // distance from the run's first seq.
    std::size_t offset = 0;
    for (const auto& run : runs_) {
        if (run.boot != boot) {
            offset += run.size();
            continue;
        }
        if (from_seq > run.last_seq) {
            return 0;
        }
        const std::uint64_t from = std::max(from_seq, run.first_seq);
        const auto start = offset + static_cast<std::size_t>(from - run.first_seq);
        const auto count = std::min(max_count, static_cast<std::size_t>(run.last_seq - from + 1));
        const auto first = items_.begin() + static_cast<std::ptrdiff_t>(start);
        out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(count));
        return count;
    }
    return 0;
}

std::optional<buffered_run> reading_queue::front_run() const {
    if (runs_.empty()) {
        return std::nullopt;
    }
    return runs_.front();
}

memory_buffer::memory_buffer(std::size_t capacity) : capacity_(capacity) {}

bool memory_buffer::push(buffered_reading reading) {
    if (full()) {
        return false;
    }
    return queue_.push(std::move(reading));
}

std::size_t memory_buffer::drop_through(const reading_id& through) {
    return queue_.drop_through(through);
}

std::size_t memory_buffer::read(const read_request& req, std::vector<buffered_reading>& out) const {
    return queue_.read(req, out);
}

}  // namespace fogbridge
