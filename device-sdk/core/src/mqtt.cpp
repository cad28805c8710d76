#include "fogbridge/core/mqtt.hpp"

#include <cstring>

namespace fogbridge::core::mqtt {
namespace {

std::size_t length_bytes(std::size_t remaining) {
    return remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
}

class writer final {
  public:
    writer(std::uint8_t* out, std::size_t cap) : out_(out), cap_(cap) {}
    void byte(std::uint8_t b) {
        if (n_ < cap_) {
            out_[n_] = b;
        }
        ++n_;
    }
    void u16(std::uint16_t v) {
        byte(static_cast<std::uint8_t>(v >> 8));
        byte(static_cast<std::uint8_t>(v & 0xFF));
    }
    void bytes(const void* p, std::size_t size) {
        if (n_ + size <= cap_) {
            std::memcpy(out_ + n_, p, size);
        }
        n_ += size;
    }
    void str(const char* s) {
        const std::size_t size = std::strlen(s);
        u16(static_cast<std::uint16_t>(size));
        bytes(s, size);
    }
    void fixed(std::uint8_t first, std::size_t remaining) {
        byte(first);
        do {
            auto digit = static_cast<std::uint8_t>(remaining % 128);
            remaining /= 128;
            if (remaining > 0) {
                digit |= 0x80;
            }
            byte(digit);
        } while (remaining > 0);
    }
    std::size_t done() const { return n_ <= cap_ ? n_ : 0; }

  private:
    std::uint8_t* out_;
    std::size_t cap_;
    std::size_t n_ = 0;
};

std::size_t str_size(const char* s) { return 2 + std::strlen(s); }

}  // namespace

std::size_t encode_connect(std::uint8_t* out, std::size_t cap, const connect_options& o) {
    std::size_t remaining = 10 + str_size(o.client_id);
    std::uint8_t flags = o.clean_session ? 0x02 : 0x00;
    if (o.will_topic != nullptr) {
        remaining += str_size(o.will_topic) + str_size(o.will_payload);
        flags |=
            static_cast<std::uint8_t>(0x04 | (o.will_qos & 3) << 3 | (o.will_retain ? 0x20 : 0));
    }
    if (o.username != nullptr) {
        remaining += str_size(o.username);
        flags |= 0x80;
        if (o.password != nullptr) {
            remaining += str_size(o.password);
            flags |= 0x40;
        }
    }
    writer w(out, cap);
    w.fixed(0x10, remaining);
    w.str("MQTT");
    w.byte(4);  // protocol level 3.1.1
    w.byte(flags);
    w.u16(o.keepalive_s);
    w.str(o.client_id);
    if (o.will_topic != nullptr) {
        w.str(o.will_topic);
        w.str(o.will_payload);
    }
    if (o.username != nullptr) {
        w.str(o.username);
        if (o.password != nullptr) {
            w.str(o.password);
        }
    }
    return w.done();
}

std::size_t encode_subscribe(std::uint8_t* out, std::size_t cap, const subscribe_options& o) {
    writer w(out, cap);
    w.fixed(0x82, 2 + str_size(o.topic) + 1);
    w.u16(o.packet_id);
    w.str(o.topic);
    w.byte(o.qos);
    return w.done();
}

std::size_t encode_puback(std::uint16_t packet_id, std::uint8_t* out, std::size_t cap) {
    writer w(out, cap);
    w.fixed(0x40, 2);
    w.u16(packet_id);
    return w.done();
}

std::size_t encode_pingreq(std::uint8_t* out, std::size_t cap) {
    writer w(out, cap);
    w.fixed(0xC0, 0);
    return w.done();
}

std::size_t encode_disconnect(std::uint8_t* out, std::size_t cap) {
    writer w(out, cap);
    w.fixed(0xE0, 0);
    return w.done();
}

std::size_t publish_header_size(const publish_sizes& s) {
    const std::size_t variable = 2 + s.topic_size + (s.qos > 0 ? 2 : 0);
    return 1 + length_bytes(variable + s.payload_size) + variable;
}

std::size_t encode_publish_header(std::uint8_t* out, std::size_t cap,
                                  const char* const* topic_parts, std::size_t payload_size,
                                  std::uint8_t qos, bool retain, std::uint16_t packet_id) {
    std::size_t topic_size = 0;
    for (const char* const* p = topic_parts; *p != nullptr; ++p) {
        topic_size += std::strlen(*p);
    }
    const std::size_t variable = 2 + topic_size + (qos > 0 ? 2 : 0);
    writer w(out, cap);
    w.fixed(static_cast<std::uint8_t>(0x30 | (qos & 3) << 1 | (retain ? 1 : 0)),
            variable + payload_size);
    w.u16(static_cast<std::uint16_t>(topic_size));
    for (const char* const* p = topic_parts; *p != nullptr; ++p) {
        w.bytes(*p, std::strlen(*p));
    }
    if (qos > 0) {
        w.u16(packet_id);
    }
    return w.done();
}

bool parse_publish(const packet& p, incoming_publish& out) {
    if (p.type != packet_type::publish || p.size < 2) {
        return false;
    }
    out.qos = static_cast<std::uint8_t>((p.flags >> 1) & 3);
    const std::size_t topic_size = static_cast<std::size_t>(p.body[0]) << 8 | p.body[1];
    std::size_t at = 2 + topic_size;
    if (out.qos == 3 || at + (out.qos > 0 ? 2 : 0) > p.size) {
        return false;
    }
    out.topic = reinterpret_cast<const char*>(p.body + 2);
    out.topic_size = topic_size;
    out.packet_id = 0;
    if (out.qos > 0) {
        out.packet_id = static_cast<std::uint16_t>(p.body[at] << 8 | p.body[at + 1]);
        at += 2;
    }
    out.payload = p.body + at;
    out.payload_size = p.size - at;
    return true;
}

bool parse_connack(const packet& p, std::uint8_t& code) {
    if (p.type != packet_type::connack || p.size != 2) {
        return false;
    }
    code = p.body[1];
    return true;
}

const char* connack_text(std::uint8_t code) {
    switch (code) {
        case 0:
            return "accepted";
        case 1:
            return "unacceptable protocol version";
        case 2:
            return "identifier rejected";
        case 3:
            return "server unavailable";
        case 4:
            return "bad user name or password";
        case 5:
            return "not authorised";
        default:
            return "unknown return code";
    }
}

std::uint64_t keepalive::next_deadline() const {
    if (ms_ == 0) {
        return 0;
    }
    const std::uint64_t dead = last_rx_ + ms_ * 3 / 2 + 1;
    if (pinged_) {
        return dead;
    }
    const std::uint64_t quiet = last_tx_ < last_rx_ ? last_tx_ : last_rx_;
    const std::uint64_t ping = quiet + ms_ / 2;
    return ping < dead ? ping : dead;
}

bool parse_packet_id(const packet& p, std::uint16_t& id) {
    if (p.size < 2) {
        return false;
    }
    id = static_cast<std::uint16_t>(p.body[0] << 8 | p.body[1]);
    return true;
}

void reader::reset() {
    have_header_ = false;
    have_length_ = false;
    length_ = 0;
    multiplier_ = 1;
    got_ = 0;
}

feed_result reader::feed(const std::uint8_t* data, std::size_t size, std::size_t& used,
                         packet& out) {
    used = 0;
    while (used < size) {
        if (!have_header_) {
            header_ = data[used++];
            have_header_ = true;
            continue;
        }
        if (!have_length_) {
            const std::uint8_t b = data[used++];
            length_ += (b & 0x7FU) * multiplier_;
            multiplier_ *= 128;
            if ((b & 0x80) == 0) {
                have_length_ = true;
            } else if (multiplier_ > 128U * 128 * 128) {
                reset();
                return feed_result::malformed;
            }
            if (!have_length_) {
                continue;
            }
        } else {
            const std::size_t want = length_ - got_;
            const std::size_t take = size - used < want ? size - used : want;
            if (length_ <= cap_) {
                std::memcpy(buf_ + got_, data + used, take);
            }
            got_ += static_cast<std::uint32_t>(take);
            used += take;
        }
        if (got_ == length_) {
            const bool fits = length_ <= cap_;
            out = packet{static_cast<packet_type>(header_ >> 4),
                         static_cast<std::uint8_t>(header_ & 15), buf_, length_};
            reset();
            if (!fits) {
                ++skipped_;
                return feed_result::skipped;
            }
            return feed_result::packet;
        }
    }
    return feed_result::need_more;
}

}  // namespace fogbridge::core::mqtt
