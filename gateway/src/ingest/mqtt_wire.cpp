#include "ingest/mqtt_wire.hpp"

#include <fmt/format.h>

namespace fogbridge::mqtt {
namespace {

void append_u16(std::string& out, std::size_t v) {
    out.push_back(static_cast<char>((v >> 8U) & 0xFFU));
    out.push_back(static_cast<char>(v & 0xFFU));
}

void append_string(std::string& out, std::string_view s) {
    if (s.size() > 0xFFFF) throw std::invalid_argument("MQTT string longer than 65535 bytes");
    append_u16(out, s.size());
    out.append(s);
}

// A packet's first byte (type and flags), typed apart from the length that follows it.
struct fixed_header {
    std::uint8_t byte = 0;
};

fixed_header header_of(packet_type t, std::uint8_t flags = 0) {
    return {static_cast<std::uint8_t>((static_cast<unsigned>(t) << 4U) | flags)};
}

void append_fixed_header(std::string& out, fixed_header header, std::size_t remaining) {
    if (remaining > max_remaining_length) throw std::invalid_argument("MQTT packet too large");
    out.push_back(static_cast<char>(header.byte));
    do {
        auto digit = static_cast<std::uint8_t>(remaining % 128);
        remaining /= 128;
        if (remaining > 0) digit |= 0x80U;
        out.push_back(static_cast<char>(digit));
    } while (remaining > 0);
}

// Reads the body of a packet front to back; a field past its end is a protocol error.
class body_reader {
  public:
    body_reader(std::string_view body, const char* what) : rest_(body), what_(what) {}

    std::uint16_t u16() {
        need(2);
        const auto v = static_cast<std::uint16_t>((byte(0) << 8U) | byte(1));
        rest_.remove_prefix(2);
        return v;
    }
    std::uint8_t u8() {
        need(1);
        const auto v = byte(0);
        rest_.remove_prefix(1);
        return v;
    }
    std::string_view string() {
        const std::size_t n = u16();
        need(n);
        const auto s = rest_.substr(0, n);
        rest_.remove_prefix(n);
        return s;
    }
    std::string_view rest() const { return rest_; }

  private:
    std::uint8_t byte(std::size_t i) const { return static_cast<std::uint8_t>(rest_[i]); }
    void need(std::size_t n) const {
        if (rest_.size() < n) throw protocol_error(fmt::format("truncated {} packet", what_));
    }

    std::string_view rest_;
    const char* what_;
};

}  // namespace

void append_connect(std::string& out, const connect_options& o) {
    std::uint8_t flags = o.clean_session ? 0x02U : 0U;
    std::string body;
    append_string(body, "MQTT");
    body.push_back(4);  // protocol level: 3.1.1
    if (!o.will_topic.empty()) {
        flags |= 0x04U | static_cast<std::uint8_t>((o.will_qos & 3) << 3U);
        if (o.will_retain) flags |= 0x20U;
    }
    if (!o.username.empty()) {
        flags |= 0x80U;
        if (!o.password.empty()) flags |= 0x40U;
    }
    body.push_back(static_cast<char>(flags));
    append_u16(body, static_cast<std::size_t>(o.keepalive));
    append_string(body, o.client_id);
    if (!o.will_topic.empty()) {
        append_string(body, o.will_topic);
        append_string(body, o.will_payload);
    }
    if (!o.username.empty()) {
        append_string(body, o.username);
        if (!o.password.empty()) append_string(body, o.password);
    }
    append_fixed_header(out, header_of(packet_type::connect), body.size());
    out += body;
}

void append_subscribe(std::string& out, std::uint16_t id, const std::vector<std::string>& filters,
                      int qos) {
    std::size_t size = 2;
    for (const auto& f : filters) size += 2 + f.size() + 1;
    append_fixed_header(out, header_of(packet_type::subscribe, 0x02U), size);
    append_u16(out, id);
    for (const auto& f : filters) {
        append_string(out, f);
        out.push_back(static_cast<char>(qos));
    }
}

void append_publish(std::string& out, std::string_view topic, std::string_view payload,
                    const publish_header& h) {
    if (topic.size() > 0xFFFF) throw std::invalid_argument("MQTT topic longer than 65535 bytes");
    const bool acked = h.qos != qos::at_most_once;
    auto flags = static_cast<std::uint8_t>(static_cast<unsigned>(h.qos) << 1U);
    if (h.retain == retain::yes) flags |= 0x01U;
    if (h.dup == dup::yes && acked) flags |= 0x08U;
    const std::size_t size = 2 + topic.size() + (acked ? 2 : 0) + payload.size();
    append_fixed_header(out, header_of(packet_type::publish, flags), size);
    append_string(out, topic);
    if (acked) append_u16(out, h.id);
    out.append(payload);
}

void append_puback(std::string& out, std::uint16_t id) {
    out.push_back(static_cast<char>(header_of(packet_type::puback).byte));
    out.push_back(2);
    append_u16(out, id);
}

void append_pingreq(std::string& out) {
    out.push_back(static_cast<char>(header_of(packet_type::pingreq).byte));
    out.push_back(0);
}

void append_disconnect(std::string& out) {
    out.push_back(static_cast<char>(header_of(packet_type::disconnect).byte));
    out.push_back(0);
}

namespace {

// MQTT 3.1.1 section 2.2.2: the flags each type must carry (PUBLISH: its own, checked apart).
void check_header(std::uint8_t header) {
    const auto type = static_cast<unsigned>(header >> 4U);
    const auto flags = static_cast<unsigned>(header & 0x0FU);
    if (type == 0 || type == 15) throw protocol_error(fmt::format("reserved packet type {}", type));
    if (type == static_cast<unsigned>(packet_type::publish)) {
        if ((flags & 0x06U) == 0x06U) throw protocol_error("PUBLISH with QoS 3");
        if ((flags & 0x0EU) == 0x08U) throw protocol_error("PUBLISH with DUP at QoS 0");
        return;
    }
    const bool two = type == static_cast<unsigned>(packet_type::pubrel) ||
                     type == static_cast<unsigned>(packet_type::subscribe) ||
                     type == static_cast<unsigned>(packet_type::unsubscribe);
    if (flags != (two ? 2U : 0U)) {
        throw protocol_error(
            fmt::format("packet type {} with reserved flag bits 0x{:X}", type, flags));
    }
}

}  // namespace

std::optional<std::pair<packet, std::size_t>> cut_packet(std::string_view data,
                                                         std::size_t max_packet_bytes) {
    if (data.empty()) return std::nullopt;
    check_header(static_cast<std::uint8_t>(data[0]));
    std::size_t remaining = 0;
    std::size_t multiplier = 1;
    std::size_t at = 1;
    for (;; ++at) {
        if (at >= data.size()) return std::nullopt;
        if (at > 4) throw protocol_error("packet length longer than four bytes");
        const auto digit = static_cast<std::uint8_t>(data[at]);
        remaining += (digit & 0x7FU) * multiplier;
        multiplier *= 128;
        if ((digit & 0x80U) != 0) continue;
        // A last length byte of 0 after others says the value in more bytes than it needs.
        if (digit == 0 && at > 1) throw protocol_error("packet length not minimally encoded");
        break;
    }
    const std::size_t total = at + 1 + remaining;
    if (total > max_packet_bytes) {
        throw protocol_error(
            fmt::format("packet of {} bytes, more than the {} allowed", total, max_packet_bytes));
    }
    if (data.size() < total) return std::nullopt;
    packet p{static_cast<std::uint8_t>(data[0]), data.substr(at + 1, remaining)};
    return std::make_pair(p, total);
}

publish_view read_publish(const packet& p) {
    publish_view v;
    v.qos = static_cast<int>((p.flags() >> 1U) & 3U);
    v.retain = (p.flags() & 0x01U) != 0;
    v.dup = (p.flags() & 0x08U) != 0;
    if (v.qos == 3) throw protocol_error("PUBLISH with QoS 3");
    body_reader r(p.body, "PUBLISH");
    v.topic = r.string();
    if (v.qos > 0) {
        v.id = r.u16();
        if (v.id == 0) {
            throw protocol_error(fmt::format("PUBLISH at QoS {} with packet id 0", v.qos));
        }
    }
    v.payload = r.rest();
    return v;
}

connack_view read_connack(const packet& p) {
    if (p.body.size() != 2) {
        throw protocol_error(fmt::format("CONNACK of {} bytes, not 2", p.body.size()));
    }
    body_reader r(p.body, "CONNACK");
    connack_view v;
    const auto ack_flags = r.u8();
    if ((ack_flags & 0xFEU) != 0) throw protocol_error("CONNACK with reserved flag bits");
    v.session_present = (ack_flags & 0x01U) != 0;
    v.code = r.u8();
    return v;
}

std::uint16_t read_packet_id(const packet& p) {
    if (p.body.size() != 2) {
        throw protocol_error(fmt::format("acknowledgement of {} bytes, not 2", p.body.size()));
    }
    const auto id = body_reader(p.body, "acknowledgement").u16();
    if (id == 0) throw protocol_error("acknowledgement with packet id 0");
    return id;
}

suback_view read_suback(const packet& p) {
    body_reader r(p.body, "SUBACK");
    suback_view v;
    v.id = r.u16();
    if (v.id == 0) throw protocol_error("SUBACK with packet id 0");
    const auto rest = r.rest();
    v.codes.assign(rest.begin(), rest.end());
    for (const auto code : v.codes) {
        if (code > 2 && code != 0x80U) {
            throw protocol_error(fmt::format("SUBACK with return code 0x{:02X}", code));
        }
    }
    return v;
}

std::string_view connack_reason(int code) {
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
            return "not authorized";
        default:
            return "unknown reason";
    }
}

}  // namespace fogbridge::mqtt
