#include "fogbridge/core/delivery.hpp"

namespace fogbridge::core {

void encode_reading(json_out& out, const reading_view& v) {
    out.raw("{\"sensor\":");
    out.string(v.sensor);
    out.raw(",\"value\":");
    out.number(v.r.value);
    if (v.unit[0] != '\0') {
        out.raw(",\"unit\":");
        out.string(v.unit);
    }
    out.raw(",\"ts\":");
    out.millis(v.r.ts_ms);
    out.raw(",\"boot\":");
    out.uint(v.boot);
    out.raw(",\"seq\":");
    out.uint(v.r.seq);
    if (!v.r.no_up) {
        out.raw(",\"up\":");
        out.millis(static_cast<std::int64_t>(v.r.up_ms));
    }
    out.ch('}');
}

void encode_reading(json_out& out, const reading& r, const sensor_info& sensor,
                    std::uint64_t boot) {
    encode_reading(out, reading_view{boot, r, sensor.name, sensor.unit});
}

void encode_alert(json_out& out, const char* sensor, const alert_event& a, std::uint64_t boot,
                  bool has_up) {
    out.raw("{\"sensor\":");
    out.string(sensor);
    out.raw(",\"value\":");
    out.number(a.value);
    out.raw(",\"threshold\":");
    out.number(a.threshold);
    out.raw(",\"rule\":");
    out.string(to_string(a.direction));
    out.raw(",\"ts\":");
    out.millis(a.ts_ms);
    out.raw(",\"boot\":");
    out.uint(boot);
    if (has_up) {
        out.raw(",\"up\":");
        out.millis(static_cast<std::int64_t>(a.up_ms));
    }
    out.ch('}');
}

void encode_health(json_out& out, const health_report& h) {
    out.ch('{');
    if (h.ts_ms != 0) {
        out.raw("\"ts\":");
        out.millis(h.ts_ms);
        out.ch(',');
    }
    out.raw("\"boot\":");
    out.uint(h.boot);
    out.raw(",\"uptime_s\":");
    out.millis(static_cast<std::int64_t>(h.uptime_ms));
    out.raw(R"(,"buffer":{"readings":)");
    out.uint(h.buffered);
    out.raw(",\"capacity\":");
    out.uint(h.capacity);
    out.raw("},\"reconnects\":");
    out.uint(h.reconnects);
    // NaN fails both comparisons, so it is left out too.
    if (h.has_battery && h.battery_pct >= 0.0 && h.battery_pct <= 100.0) {
        out.raw(",\"battery_pct\":");
        out.number(h.battery_pct);
    }
    if (h.has_rssi && h.rssi_dbm >= -200.0 && h.rssi_dbm <= 50.0) {
        out.raw(",\"rssi_dbm\":");
        out.number(h.rssi_dbm);
    }
    out.ch('}');
}

delivery::delivery(const delivery_settings& settings, std::uint64_t boot, reading* slots,
                   std::size_t capacity, const sensor_info* sensors, std::size_t sensor_count)
    : delivery(settings, boot, nullptr, slots, capacity, sensors, sensor_count) {}

delivery::delivery(const delivery_settings& settings, std::uint64_t boot, reading_store& store,
                   const sensor_info* sensors, std::size_t sensor_count)
    : delivery(settings, boot, &store, nullptr, 0, sensors, sensor_count) {}

delivery::delivery(const delivery_settings& settings, std::uint64_t boot, reading_store* store,
                   reading* slots, std::size_t capacity, const sensor_info* sensors,
                   std::size_t sensor_count)
    : settings_(settings),
      boot_(boot),
      ring_(slots, capacity, sensors, sensor_count),
      store_(store != nullptr ? store : &ring_),
      sensors_(sensors),
      sensor_count_(sensor_count) {
    if (settings_.max_in_flight == 0) {
        settings_.max_in_flight = 1;
    }
    if (settings_.max_readings_per_message == 0) {
        settings_.max_readings_per_message = 1;
    }
    store_ok_ = !store_->holds(boot_);
    counters_.recovered = store_->size();
    run front;
    const bool have = store_->front_run(front);
    start_sending(have, front, 0);
}

void delivery::start_sending(bool have_run, const run& r, std::uint64_t now_ms) {
    if (have_run && r.boot != boot_) {
        send_boot_ = r.boot;
        send_run_last_ = r.last_seq;
        acked_ = r.first_seq - 1;
    } else {
        send_boot_ = boot_;
        send_run_last_ = 0;
        acked_ = have_run ? r.first_seq - 1 : last_seq();
    }
    send_next_ = acked_ + 1;
    max_sent_ = acked_;
    progress_at_ = now_ms;
}

accept_result delivery::store(const reading& r, const sensor_info& sensor) {
    if (__builtin_isfinite(r.value) == 0) {
        ++counters_.invalid;
        return accept_result::invalid;
    }
    if (!store_ok_ || !store_->push(boot_, r, sensor)) {
        ++counters_.buffer_full;
        return accept_result::buffer_full;
    }
    ++next_seq_;
    ++counters_.published;
    return accept_result::queued;
}

accept_result delivery::accept(std::uint8_t sensor, double value, std::int64_t ts_ms,
                               std::uint64_t up_ms) {
    if (sensor >= sensor_count_) {
        ++counters_.invalid;
        return accept_result::invalid;
    }
    return store(reading{next_seq_, value, ts_ms, up_ms, sensor, false}, sensors_[sensor]);
}

accept_result delivery::accept(const sensor_info& sensor, double value, std::int64_t ts_ms,
                               std::uint64_t up_ms, bool has_up) {
    return store(reading{next_seq_, value, ts_ms, up_ms, 0, !has_up}, sensor);
}

void delivery::on_connected(std::uint64_t now_ms) {
    connected_ = true;
    send_next_ = acked_ + 1;
    progress_at_ = now_ms;
}

ack_result delivery::on_ack(std::uint64_t boot, std::uint64_t seq, std::uint64_t now_ms) {
    if (boot == send_boot_) {
        if (boot == boot_ && seq > last_seq()) {
            ++counters_.ignored_acks;
            return ack_result::out_of_range;
        }
        if (seq <= acked_) {
            return ack_result::duplicate;
        }
        release(reading_id{boot, seq}, now_ms);
        return ack_result::progress;
    }
    if (boot == boot_ || !store_->holds(boot)) {
        // The current boot's readings wait for the earlier boots: none of them was sent yet.
        ++counters_.ignored_acks;
        return boot == boot_ ? ack_result::out_of_range : ack_result::other_boot;
    }
    // A later boot is sent only after the earlier ones were acknowledged in full (by a run
    // before a reset undid part of the store).
    release(reading_id{boot, seq}, now_ms);
    return ack_result::progress;
}

void delivery::release(const reading_id& through, std::uint64_t now_ms) {
    counters_.acked += store_->drop_through(through);
    progress_at_ = now_ms;
    if (through.boot == send_boot_) {
        acked_ = through.seq;
        send_next_ = send_next_ > acked_ ? send_next_ : acked_ + 1;
    }
    if (send_boot_ != boot_) {
        run front;
        const bool have = store_->front_run(front);
        if (!have || front.boot != send_boot_) {
            start_sending(have, front, now_ms);  // that boot is done: the next one
        }
    }
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
    if (send_next_ > send_last() || in_flight() >= settings_.max_in_flight) {
        return false;
    }
    const std::uint64_t room = settings_.max_in_flight - in_flight();
    std::uint64_t count = send_last() - send_next_ + 1;
    count = count < room ? count : room;
    count = count < settings_.max_readings_per_message ? count : settings_.max_readings_per_message;
    out.truncate(0);
    out.ch('[');
    std::uint64_t fitted = 0;
    reading_view v;
    for (std::uint64_t seq = send_next_; fitted < count && store_->get(send_boot_, seq, v); ++seq) {
        const std::size_t before = out.size();
        if (fitted > 0) {
            out.ch(',');
        }
        encode_reading(out, v);
        if (out.overflow() || (fitted > 0 && out.size() + 1 > settings_.max_message_bytes)) {
            out.truncate(before);
            break;
        }
        ++fitted;
    }
    if (fitted == 0) {
        return false;  // one reading alone does not fit: out is too small for it
    }
    if (in_flight() == 0) {
        progress_at_ = now_ms;  // the resend clock starts with the first reading in flight
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
