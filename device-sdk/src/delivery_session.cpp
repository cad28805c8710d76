#include "fogbridge/delivery_session.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace fogbridge {

std::string_view to_string(publish_result result) {
    switch (result) {
        case publish_result::queued:
            return "queued";
        case publish_result::buffer_full:
            return "buffer_full";
        case publish_result::invalid:
            return "invalid";
    }
    return "unknown";
}

delivery_session::delivery_session(delivery_settings settings, std::uint64_t boot,
                                   std::unique_ptr<reading_buffer> buffer)
    : settings_(std::move(settings)),
      topics_(topics_for(settings_.device_id)),
      boot_(boot),
      buffer_(std::move(buffer)) {
    settings_.max_in_flight = std::max<std::size_t>(settings_.max_in_flight, 1);
    settings_.max_readings_per_message =
        std::max<std::size_t>(settings_.max_readings_per_message, 1);
    for (const auto& run : buffer_->runs()) {
        if (run.boot == boot_) {
            // Its next seqs may already be at the gateway (sent, then lost from a file cut
            // short), so new readings would be dropped there as duplicates.
            throw std::invalid_argument("the buffer already holds readings of boot " +
                                        std::to_string(boot_));
        }
    }
    counters_.recovered = buffer_->size();
    start_sending(buffer_->front_run(), time_point{});
}

void delivery_session::start_sending(std::optional<buffered_run> run, time_point now) {
    if (run && run->boot != boot_) {
        send_boot_ = run->boot;
        send_run_last_ = run->last_seq;
        acked_ = run->first_seq - 1;
    } else {
        send_boot_ = boot_;
        send_run_last_ = 0;
        acked_ = run ? run->first_seq - 1 : last_seq();
    }
    send_next_ = acked_ + 1;
    max_sent_ = acked_;
    progress_at_ = now;
}

publish_result delivery_session::accept(std::string_view sensor, double value,
                                        std::string_view unit, double ts,
                                        std::optional<double> up) {
    if (!valid_sensor_name(sensor) || !valid_unit(unit) || !std::isfinite(value) ||
        !std::isfinite(ts)) {
        ++counters_.invalid;
        return publish_result::invalid;
    }
    if (buffer_->full() || !buffer_->push(buffered_reading{boot_, next_seq_, std::string(sensor),
                                                           value, std::string(unit), ts, up})) {
        ++counters_.buffer_full;
        return publish_result::buffer_full;
    }
    ++next_seq_;
    ++counters_.published;
    return publish_result::queued;
}

bool delivery_session::enqueue_alert(const alert_event& alert) {
    ++counters_.alerts;
    if (pending_alerts_ >= settings_.max_pending_alerts) {
        ++counters_.alerts_dropped;
        return false;
    }
    urgent_.push_back(
        outgoing_message{topics_.alerts, encode_alert(alert, boot_), 1, false, 0, 0, boot_});
    ++pending_alerts_;
    return true;
}

bool delivery_session::enqueue_health(std::string payload) {
    if (!connected_) {
        return false;
    }
    urgent_.push_back(outgoing_message{topics_.health, std::move(payload), 0, false, 0, 0});
    return true;
}

void delivery_session::on_connected(time_point now) {
    connected_ = true;
    send_next_ = acked_ + 1;
    progress_at_ = now;
}

void delivery_session::on_disconnected() {
    connected_ = false;
    // Alerts wait for the next connection; health would be stale by then.
    std::erase_if(urgent_, [this](const outgoing_message& m) { return m.topic != topics_.alerts; });
}

ack_result delivery_session::on_ack(std::uint64_t boot, std::uint64_t seq, time_point now) {
    if (boot == send_boot_) {
        if (boot == boot_ && seq > last_seq()) {
            ++counters_.ignored_acks;
            return ack_result::out_of_range;
        }
        if (seq <= acked_) {
            return ack_result::duplicate;
        }
        release(boot, seq, now);
        return ack_result::progress;
    }
    const auto runs = buffer_->runs();
    const bool buffered = std::any_of(runs.begin(), runs.end(),
                                      [boot](const buffered_run& r) { return r.boot == boot; });
    if (!buffered || boot == boot_) {
        // The current boot's readings wait for the earlier boots: none of them was sent yet.
        ++counters_.ignored_acks;
        return boot == boot_ ? ack_result::out_of_range : ack_result::other_boot;
    }
    // A later boot is sent only after the earlier ones were acknowledged in full (by an
    // earlier run of this program, before a power loss undid part of its buffer file).
    release(boot, seq, now);
    return ack_result::progress;
}

void delivery_session::release(std::uint64_t boot, std::uint64_t seq, time_point now) {
    counters_.acked += buffer_->drop_through(boot, seq);
    progress_at_ = now;
    if (boot == send_boot_) {
        acked_ = seq;
        send_next_ = std::max(send_next_, acked_ + 1);
    }
    if (send_boot_ != boot_) {
        const auto front = buffer_->front_run();
        if (!front || front->boot != send_boot_) {
            start_sending(front, now);  // that boot is done: the next one
        }
    }
}

ack_result delivery_session::on_ack_payload(std::string_view payload, time_point now) {
    const auto parsed = parse_ack(payload);
    if (!parsed) {
        return ack_result::malformed;
    }
    return on_ack(parsed->boot, parsed->seq, now);
}

void delivery_session::check_resend(time_point now) {
    if (in_flight() > 0 && now - progress_at_ >= settings_.resend_timeout) {
        send_next_ = acked_ + 1;
        progress_at_ = now;
    }
}

outgoing_message delivery_session::next_readings_message(time_point now) {
    const std::size_t room = settings_.max_in_flight - in_flight();
    const auto available = static_cast<std::size_t>(send_last() - send_next_ + 1);
    const std::size_t count = std::min({settings_.max_readings_per_message, room, available});
    scratch_.clear();
    buffer_->read(send_boot_, send_next_, count, scratch_);
    if (scratch_.empty()) {
        return {};
    }
    if (in_flight() == 0) {
        progress_at_ = now;  // the resend clock starts with the first reading in flight
    }
    std::size_t fitted = 0;
    auto payload = encode_readings_within(scratch_, settings_.max_message_bytes, fitted);
    scratch_.resize(fitted);
    const std::uint64_t first = scratch_.front().seq;
    const std::uint64_t last = scratch_.back().seq;
    for (const auto& r : scratch_) {
        if (r.seq <= max_sent_) {
            ++counters_.resent;
        } else {
            ++counters_.sent;
        }
    }
    max_sent_ = std::max(max_sent_, last);
    send_next_ = last + 1;
    return outgoing_message{topics_.readings, std::move(payload), 1, false, first, last,
                            send_boot_};
}

std::vector<outgoing_message> delivery_session::take_sendable(time_point now,
                                                              std::size_t max_messages) {
    std::vector<outgoing_message> out;
    if (!connected_) {
        return out;
    }
    while (!urgent_.empty() && out.size() < max_messages) {
        if (urgent_.front().topic == topics_.alerts) {
            --pending_alerts_;
        }
        out.push_back(std::move(urgent_.front()));
        urgent_.pop_front();
    }
    check_resend(now);
    while (out.size() < max_messages && send_next_ <= send_last() &&
           in_flight() < settings_.max_in_flight) {
        auto message = next_readings_message(now);
        if (message.first_seq == 0) {
            break;
        }
        out.push_back(std::move(message));
    }
    return out;
}

std::optional<delivery_session::time_point> delivery_session::next_deadline() const {
    if (!connected_ || in_flight() == 0) {
        return std::nullopt;
    }
    return progress_at_ + settings_.resend_timeout;
}

}  // namespace fogbridge
