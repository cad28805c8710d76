#include "fogbridge/core/delivery.hpp"

namespace fogbridge::core {

void encode_reading(json_out& out, const reading& r, const sensor_info& sensor,
                    std::uint64_t boot) {
    out.raw("{\"sensor\":");
    out.string(sensor.name);
    out.raw(",\"value\":");
    out.number(r.value);
    if (sensor.unit[0] != '\0') {
        out.raw(",\"unit\":");
        out.string(sensor.unit);
    }
    out.raw(",\"ts\":");
    out.millis(r.ts_ms);
    out.raw(",\"boot\":");
    out.uint(boot);
    out.raw(",\"seq\":");
    out.uint(r.seq);
    out.raw(",\"up\":");
    out.millis(static_cast<std::int64_t>(r.up_ms));
    out.ch('}');
}

delivery::delivery(const delivery_settings& settings, std::uint64_t boot, reading* slots,
                   std::size_t capacity, const sensor_info* sensors, std::size_t sensor_count)
    : settings_(settings),
      boot_(boot),
      slots_(slots),
      capacity_(capacity),
      sensors_(sensors),
      sensor_count_(sensor_count) {
    if (settings_.max_in_flight == 0) {
        settings_.max_in_flight = 1;
    }
    if (settings_.max_readings_per_message == 0) {
        settings_.max_readings_per_message = 1;
    }
}

const reading& delivery::at(std::uint64_t seq) const {
    return slots_[(head_ + static_cast<std::size_t>(seq - acked_ - 1)) % capacity_];
}

accept_result delivery::accept(std::uint8_t sensor, double value, std::int64_t ts_ms,
                               std::uint64_t up_ms) {
    if (sensor >= sensor_count_ || !__builtin_isfinite(value)) {
        ++counters_.invalid;
        return accept_result::invalid;
    }
    if (size_ == capacity_) {
        ++counters_.buffer_full;
        return accept_result::buffer_full;
    }
    reading& slot = slots_[(head_ + size_) % capacity_];
    slot = reading{next_seq_++, value, ts_ms, up_ms, sensor};
    ++size_;
    ++counters_.published;
    return accept_result::queued;
}

void delivery::on_connected(std::uint64_t now_ms) {
    connected_ = true;
    send_next_ = acked_ + 1;
    progress_at_ = now_ms;
}

ack_result delivery::on_ack(std::uint64_t boot, std::uint64_t seq, std::uint64_t now_ms) {
    if (boot != boot_) {
        ++counters_.ignored_acks;
        return ack_result::other_boot;
    }
    if (seq > last_seq()) {
        ++counters_.ignored_acks;
        return ack_result::out_of_range;
    }
    if (seq <= acked_) {
        return ack_result::duplicate;
    }
    const auto released = static_cast<std::size_t>(seq - acked_);
    head_ = (head_ + released) % capacity_;
    size_ -= released;
    counters_.acked += static_cast<std::uint32_t>(released);
    acked_ = seq;
    if (send_next_ <= acked_) {
        send_next_ = acked_ + 1;
    }
    progress_at_ = now_ms;
    return ack_result::progress;
}

bool delivery::next_message(std::uint64_t now_ms, json_out& out, std::uint64_t& first,
                            std::uint64_t& last) {
    if (!connected_) {
        return false;
    }
    if (in_flight() > 0 && now_ms - progress_at_ >= settings_.resend_timeout_ms) {
        send_next_ = acked_ + 1;  // no progress: the gateway or broker lost some; again in order
        progress_at_ = now_ms;
    }
    if (send_next_ > last_seq() || in_flight() >= settings_.max_in_flight) {
        return false;
    }
    if (in_flight() == 0) {
        progress_at_ = now_ms;  // the resend clock starts with the first reading in flight
    }
    const std::uint64_t room = settings_.max_in_flight - in_flight();
    std::uint64_t count = last_seq() - send_next_ + 1;
    count = count < room ? count : room;
    count = count < settings_.max_readings_per_message ? count : settings_.max_readings_per_message;
    out.truncate(0);
    out.ch('[');
    std::uint64_t fitted = 0;
    for (std::uint64_t seq = send_next_; fitted < count; ++seq) {
        const std::size_t before = out.size();
        if (fitted > 0) {
            out.ch(',');
        }
        const reading& r = at(seq);
        encode_reading(out, r, sensors_[r.sensor], boot_);
        if (out.overflow() || out.size() + 1 > settings_.max_message_bytes) {
            out.truncate(before);
            break;
        }
        ++fitted;
    }
    if (fitted == 0) {
        return false;  // one reading alone does not fit: the buffer is too small for the settings
    }
    if (fitted == 1) {
        out.erase_front();  // a single reading goes as a bare object: drop the bracket
    } else {
        out.ch(']');
    }
    first = send_next_;
    last = send_next_ + fitted - 1;
    for (std::uint64_t seq = first; seq <= last; ++seq) {
        if (seq <= max_sent_) {
            ++counters_.resent;
        } else {
            ++counters_.sent;
        }
    }
    max_sent_ = last > max_sent_ ? last : max_sent_;
    send_next_ = last + 1;
    return true;
}

std::uint64_t delivery::next_deadline_ms() const {
    if (!connected_ || in_flight() == 0) {
        return 0;
    }
    return progress_at_ + settings_.resend_timeout_ms;
}

}  // namespace fogbridge::core
