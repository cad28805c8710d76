#include "fogbridge/core/device.hpp"

#include <array>
#include <cstring>
#include <initializer_list>

namespace fogbridge::core {
namespace {

constexpr std::uint64_t max_boot = (1ULL << 53) - 1;  // JSON readers keep it exact

std::uint64_t choose_boot(platform& p) {
    std::uint64_t boot = 0;
    if (p.load_boot(boot) && boot < max_boot && p.save_boot(boot + 1)) {
        return boot + 1;
    }
    std::uint64_t r = 0;
    while (r == 0) {
        r = ((static_cast<std::uint64_t>(p.random32()) << 32) | p.random32()) & max_boot;
    }
    return r;
}

bool topic_is(const mqtt::incoming_publish& m, const char* id, const char* suffix) {
    const std::size_t id_size = std::strlen(id);
    const std::size_t suffix_size = std::strlen(suffix);
    return m.topic_size == 8 + id_size + suffix_size && std::memcmp(m.topic, "devices/", 8) == 0 &&
           std::memcmp(m.topic + 8, id, id_size) == 0 &&
           std::memcmp(m.topic + 8 + id_size, suffix, suffix_size) == 0;
}

// "devices/<id><suffix>": an id has at most 64 characters (valid_name) and the suffixes at
// most 7, so it fits; a longer one would be cut, never overflow.
using topic_buf = std::array<char, 80>;

topic_buf device_topic(const device_config& c, const char* suffix) {
    topic_buf out{};
    std::size_t n = 0;
    for (const char* part : {"devices/", c.device_id, suffix}) {
        for (; *part != '\0' && n + 1 < out.size(); ++part) {
            out[n++] = *part;
        }
    }
    return out;  // zero-filled past n
}

}  // namespace

device::device(platform& p, const device_config& config, const device_memory& memory,
               const sensor_info* sensors, std::size_t sensor_count)
    : p_(p),
      c_(config),
      m_(memory),
      delivery_(config.delivery, choose_boot(p), memory.store, memory.readings,
                memory.reading_capacity, sensors, sensor_count),
      backoff_(config.backoff),
      reader_(memory.rx, memory.rx_size),
      keepalive_(config.keepalive_s) {
    valid_ = valid_name(c_.device_id) && delivery_.store_ok() && delivery_.capacity() > 0 &&
             m_.rx_size >= 64 && sensor_count > 0 && sensor_count <= 255 &&
             m_.tx_size >= static_cast<std::size_t>(c_.delivery.max_message_bytes) + 96 &&
             c_.delivery.max_message_bytes >= 128;
    for (std::size_t i = 0; valid_ && i < sensor_count; ++i) {
        valid_ = valid_name(sensors[i].name) && valid_unit(sensors[i].unit);
    }
}

std::int64_t device::wall_now() {
    std::int64_t ms = 0;
    return p_.wall_ms(ms) ? ms : 0;
}

accept_result device::publish(std::uint8_t sensor, double value) {
    const std::uint64_t up = p_.monotonic_ms();
    const std::int64_t ts = wall_now();
    const accept_result r = delivery_.accept(sensor, value, ts, up);
    if (r == accept_result::invalid) {
        return r;
    }
    rules_.evaluate(sensor, value, ts, up, [this](const alert_event& a) {
        ++counters_.alerts;
        if (alert_count_ == max_pending_alerts) {
            ++counters_.alerts_dropped;
            return;
        }
        alerts_[(alert_head_ + alert_count_++) % max_pending_alerts] = a;
    });
    return r;
}

void device::schedule_retry(std::uint64_t now) {
    state_ = link_state::waiting;
    retry_at_ = now + backoff_.next(p_.random32());
}

void device::lost(const char* why, std::uint64_t now) {
    p_.close();
    p_.log(why);
    ++counters_.lost;
    delivery_.on_disconnected();
    tx_start_ = tx_end_ = 0;
    unacked_ = 0;
    puback_due_ = 0;
    schedule_retry(now);
}

void device::start_connect(std::uint64_t now) {
    if (!p_.open()) {
        schedule_retry(now);
        return;
    }
    reader_.reset();
    const topic_buf will_topic = device_topic(c_, "/status");
    mqtt::connect_options o;
    o.client_id = c_.device_id;
    o.username = c_.username;
    o.password = c_.password;
    o.keepalive_s = c_.keepalive_s;
    o.will_topic = will_topic.data();
    o.will_payload = "offline";
    tx_start_ = 0;
    tx_end_ = mqtt::encode_connect(m_.tx, m_.tx_size, o);
    state_ = link_state::connecting;
    deadline_ = now + c_.connect_timeout_ms;
    keepalive_.start(now);
}

bool device::flush() {
    while (tx_start_ < tx_end_) {
        const int n = p_.write(m_.tx + tx_start_, tx_end_ - tx_start_);
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            return true;
        }
        tx_start_ += static_cast<std::size_t>(n);
    }
    tx_start_ = tx_end_ = 0;
    return true;
}

bool device::receive(std::uint64_t now) {
    std::array<std::uint8_t, 32> chunk{};
    for (int rounds = 0; rounds < 64; ++rounds) {
        const int n = p_.read(chunk.data(), chunk.size());
        if (n < 0) {
            lost("fogbridge: connection lost", now);
            return false;
        }
        if (n == 0) {
            return true;
        }
        std::size_t at = 0;
        while (at < static_cast<std::size_t>(n)) {
            std::size_t used = 0;
            mqtt::packet packet;
            const auto r =
                reader_.feed(chunk.data() + at, static_cast<std::size_t>(n) - at, used, packet);
            at += used;
            if (r == mqtt::feed_result::malformed) {
                lost("fogbridge: malformed packet", now);
                return false;
            }
            if (r == mqtt::feed_result::skipped) {
                ++counters_.skipped_packets;
                keepalive_.received(now);
            } else if (r == mqtt::feed_result::packet) {
                keepalive_.received(now);
                if (!handle(packet, now)) {
                    return false;
                }
            }
        }
    }
    return true;
}

bool device::handle(const mqtt::packet& packet, std::uint64_t now) {
    switch (packet.type) {
        case mqtt::packet_type::connack: {
            std::uint8_t code = 0xFF;
            if (state_ != link_state::connecting || !mqtt::parse_connack(packet, code) ||
                code != 0) {
                lost("fogbridge: connection refused", now);
                return false;
            }
            backoff_.reset();
            if (++counters_.connects > 1) {
                ++counters_.reconnects;
            }
            state_ = link_state::subscribing;
            subscribe_due_ = true;
            online_due_ = true;
            deadline_ = now + c_.connect_timeout_ms;
            return true;
        }
        case mqtt::packet_type::suback:
            if (packet.size < 3 || packet.body[2] == 0x80) {
                lost("fogbridge: ack subscription refused", now);  // no acks: never send
                return false;
            }
            if (state_ == link_state::subscribing) {
                state_ = link_state::ready;
                delivery_.on_connected(now);
                health_at_ = now;
                p_.log("fogbridge: connected");
            }
            return true;
        case mqtt::packet_type::puback:
            unacked_ = unacked_ > 0 ? static_cast<std::uint16_t>(unacked_ - 1) : 0;
            return true;
        case mqtt::packet_type::publish: {
            mqtt::incoming_publish m;
            if (!mqtt::parse_publish(packet, m)) {
                lost("fogbridge: malformed packet", now);
                return false;
            }
            if (m.qos == 1) {
                puback_due_ = m.packet_id;
            }
            std::uint64_t boot = 0;
            std::uint64_t seq = 0;
            if (topic_is(m, c_.device_id, "/ack") &&
                parse_ack(reinterpret_cast<const char*>(m.payload), m.payload_size, boot, seq)) {
                delivery_.on_ack(boot, seq, now);
            }
            return true;
        }
        default:
            return true;  // PINGRESP and anything a 3.1.1 broker may add
    }
}

std::size_t device::payload_offset(const char* suffix) const {
    return 1 + 4 + 2 + 8 + std::strlen(c_.device_id) + std::strlen(suffix) + 2;
}

void device::finish_publish(const char* suffix, std::size_t payload_size, std::uint8_t qos,
                            bool retain) {
    const std::size_t offset = payload_offset(suffix);
    const std::size_t topic_size = 8 + std::strlen(c_.device_id) + std::strlen(suffix);
    mqtt::publish_sizes sizes;  // C++17: no designated initialisers in the core
    sizes.topic_size = topic_size;
    sizes.payload_size = payload_size;
    sizes.qos = qos;
    const std::size_t header = mqtt::publish_header_size(sizes);
    const std::array<const char*, 4> parts = {"devices/", c_.device_id, suffix, nullptr};
    const std::uint16_t id = qos > 0 ? next_packet_id() : 0;
    mqtt::encode_publish_header(m_.tx + offset - header, header, parts.data(), payload_size, qos,
                                retain, id);
    tx_start_ = offset - header;
    tx_end_ = offset + payload_size;
    if (qos > 0) {
        ++unacked_;
    }
}

std::uint16_t device::next_packet_id() {
    packet_id_ = static_cast<std::uint16_t>(packet_id_ == 0xFFFF ? 1 : packet_id_ + 1);
    return packet_id_;
}

void device::publish_alert(const alert_event& a) {
    const std::size_t offset = payload_offset("/alerts");
    json_out out(reinterpret_cast<char*>(m_.tx + offset), m_.tx_size - offset);
    encode_alert(out, delivery_.sensors()[a.sensor].name, a, delivery_.boot(), true);
    finish_publish("/alerts", out.size(), 1, false);
}

void device::publish_health(std::uint64_t now) {
    const std::size_t offset = payload_offset("/health");
    json_out out(reinterpret_cast<char*>(m_.tx + offset), m_.tx_size - offset);
    health_report h;
    h.ts_ms = wall_now();
    h.boot = delivery_.boot();
    h.uptime_ms = now;
    h.buffered = delivery_.buffered();
    h.capacity = delivery_.capacity();
    h.reconnects = counters_.reconnects;
    encode_health(out, h);
    finish_publish("/health", out.size(), 0, false);
}

void device::compose(std::uint64_t now) {
    if (tx_end_ != 0) {
        return;  // one packet at a time
    }
    if (puback_due_ != 0) {
        tx_end_ = mqtt::encode_puback(puback_due_, m_.tx, m_.tx_size);
        puback_due_ = 0;
        return;
    }
    if (subscribe_due_) {
        const topic_buf topic = device_topic(c_, "/ack");
        // QoS 0: the ack is retained and superseded by the next; a lost one is re-sent on connect.
        mqtt::subscribe_options s;
        s.packet_id = next_packet_id();
        s.topic = topic.data();
        s.qos = 0;
        tx_end_ = mqtt::encode_subscribe(m_.tx, m_.tx_size, s);
        subscribe_due_ = false;
        return;
    }
    if (online_due_) {
        const std::size_t offset = payload_offset("/status");
        std::memcpy(m_.tx + offset, "online", 6);
        finish_publish("/status", 6, 1, true);
        online_due_ = false;
        return;
    }
    if (state_ != link_state::ready) {
        return;
    }
    if (alert_count_ > 0 && unacked_ < c_.max_unacked_publishes) {
        publish_alert(alerts_[alert_head_]);
        alert_head_ = (alert_head_ + 1) % max_pending_alerts;
        --alert_count_;
        return;
    }
    if (c_.health_interval_ms != 0 && now >= health_at_) {
        health_at_ = now + c_.health_interval_ms;
        publish_health(now);
        return;
    }
    if (unacked_ < c_.max_unacked_publishes) {
        const std::size_t offset = payload_offset("/readings");
        const std::size_t room = m_.tx_size - offset;
        json_out out(reinterpret_cast<char*>(m_.tx + offset), room);
        std::uint64_t first = 0;
        std::uint64_t last = 0;
        if (delivery_.next_message(now, out, first, last)) {
            finish_publish("/readings", out.size(), 1, false);
            return;
        }
    }
    if (keepalive_.ping_due(now)) {
        tx_end_ = mqtt::encode_pingreq(m_.tx, m_.tx_size);
        keepalive_.pinged(now);
    }
}

void device::poll() {
    const std::uint64_t now = p_.monotonic_ms();
    if (state_ == link_state::waiting) {
        if (now >= retry_at_) {
            start_connect(now);
        }
        if (state_ == link_state::waiting) {
            return;
        }
    }
    if (!receive(now)) {
        return;
    }
    if (state_ != link_state::ready && now >= deadline_) {
        lost("fogbridge: no answer to CONNECT or SUBSCRIBE", now);
        return;
    }
    if (state_ == link_state::ready && keepalive_.expired(now)) {
        lost("fogbridge: keepalive timeout", now);
        return;
    }
    for (int packets = 0; packets < 4; ++packets) {
        if (!flush()) {
            lost("fogbridge: connection lost", now);
            return;
        }
        if (tx_end_ != 0) {
            return;  // the stream is full: the rest waits for the next poll
        }
        compose(now);
        if (tx_end_ == 0) {
            return;
        }
        keepalive_.sent(now);
    }
    if (!flush()) {
        lost("fogbridge: connection lost", now);
    }
}

}  // namespace fogbridge::core
