// MQTT 3.1.1 packets for the gateway's own client on the local broker: the few it sends, and a
// parser that cuts packets off the front of a byte stream. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/publish_options.hpp"

namespace fogbridge::mqtt {

enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
};

// The peer broke the protocol (a bad length, a truncated field): the connection must go.
struct protocol_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The largest remaining length four length bytes can say.
inline constexpr std::size_t max_remaining_length = 268'435'455;

struct connect_options {
    std::string client_id;
    bool clean_session = false;
    int keepalive = 30;  // seconds
    std::string username;
    std::string password;
    std::string will_topic;  // no will when empty
    std::string will_payload;
    int will_qos = 1;
    bool will_retain = true;
};

void append_connect(std::string& out, const connect_options& o);
void append_subscribe(std::string& out, std::uint16_t id, const std::vector<std::string>& filters,
                      int qos);
// A re-send of a QoS 1 PUBLISH the broker may have seen already.
enum class dup : bool { no = false, yes = true };

// The fixed-header flags and packet id of a PUBLISH (the id is ignored at QoS 0).
struct publish_header {
    fogbridge::qos qos = qos::at_most_once;
    fogbridge::retain retain = retain::no;
    mqtt::dup dup = dup::no;
    std::uint16_t id = 0;
};

void append_publish(std::string& out, std::string_view topic, std::string_view payload,
                    const publish_header& h);
void append_puback(std::string& out, std::uint16_t id);
void append_pingreq(std::string& out);
void append_disconnect(std::string& out);

struct packet {
    std::uint8_t header = 0;  // type in the high nibble, flags in the low one
    std::string_view body;    // after the fixed header

    packet_type type() const { return static_cast<packet_type>(header >> 4U); }
    std::uint8_t flags() const { return header & 0x0FU; }
};

// The complete packet at the front of `data` and its size on the wire, or nothing while it is
// still incomplete. Throws protocol_error as soon as the fixed header shows a reserved type,
// flag bits MQTT 3.1.1 reserves, a length in more than four bytes or in more bytes than it
// needs, or a packet (fixed header included) larger than max_packet_bytes: a packet too large is
// refused before its body is buffered.
std::optional<std::pair<packet, std::size_t>> cut_packet(
    std::string_view data, std::size_t max_packet_bytes = max_remaining_length + 5);

struct publish_view {
    std::string_view topic;
    std::string_view payload;
    int qos = 0;
    bool retain = false;
    bool dup = false;
    std::uint16_t id = 0;  // 0 at QoS 0
};

struct connack_view {
    bool session_present = false;
    int code = 0;  // 0: accepted
};

struct suback_view {
    std::uint16_t id = 0;
    std::vector<std::uint8_t> codes;  // the granted QoS per filter, 0x80 for a refused one
};

// Throw protocol_error when the body does not hold what the type says, or a packet id is 0.
publish_view read_publish(const packet& p);
connack_view read_connack(const packet& p);
std::uint16_t read_packet_id(const packet& p);  // PUBACK: exactly a packet id
suback_view read_suback(const packet& p);       // codes other than 0, 1, 2, 0x80 are errors

// "not authorized" and the like for a CONNACK code.
std::string_view connack_reason(int code);

}  // namespace fogbridge::mqtt
