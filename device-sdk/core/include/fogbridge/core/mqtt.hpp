// MQTT 3.1.1 packets for a small client: encoders into caller buffers and an incremental reader
// of incoming packets; pure, not thread-safe (one reader per connection).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fogbridge::core::mqtt {

enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    subscribe = 8,
    suback = 9,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
};

struct connect_options {
    const char* client_id = "";
    const char* username = nullptr;  // nullptr: none
    const char* password = nullptr;  // sent only with a username
    std::uint16_t keepalive_s = 30;
    bool clean_session = true;
    const char* will_topic = nullptr;  // nullptr: no will
    const char* will_payload = "";
    std::uint8_t will_qos = 1;
    bool will_retain = true;
};

struct subscribe_options {
    std::uint16_t packet_id = 0;
    const char* topic = "";  // one topic filter
    std::uint8_t qos = 0;
};

// Each returns the packet's size, or 0 when it does not fit in `cap`.
std::size_t encode_connect(std::uint8_t* out, std::size_t cap, const connect_options& o);
std::size_t encode_subscribe(std::uint8_t* out, std::size_t cap, const subscribe_options& o);
std::size_t encode_puback(std::uint16_t packet_id, std::uint8_t* out, std::size_t cap);
std::size_t encode_pingreq(std::uint8_t* out, std::size_t cap);
std::size_t encode_disconnect(std::uint8_t* out, std::size_t cap);

struct publish_sizes {
    std::size_t topic_size = 0;
    std::size_t payload_size = 0;
    std::uint8_t qos = 0;
};

// The fixed header and variable header of a PUBLISH whose payload of `payload_size` bytes follows
// them; `topic_parts` are concatenated into the topic name (nullptr-terminated list).
std::size_t publish_header_size(const publish_sizes& s);
std::size_t encode_publish_header(std::uint8_t* out, std::size_t cap,
                                  const char* const* topic_parts, std::size_t payload_size,
                                  std::uint8_t qos, bool retain, std::uint16_t packet_id);

// One complete incoming packet; `body` points into the reader's buffer until the next feed.
struct packet {
    packet_type type{};
    std::uint8_t flags = 0;
    const std::uint8_t* body = nullptr;
    std::size_t size = 0;
};

struct incoming_publish {
    const char* topic = nullptr;  // not NUL-terminated
    std::size_t topic_size = 0;
    const std::uint8_t* payload = nullptr;
    std::size_t payload_size = 0;
    std::uint8_t qos = 0;
    std::uint16_t packet_id = 0;
};

bool parse_publish(const packet& p, incoming_publish& out);
// CONNACK's return code (0: accepted); false when the packet is not a well-formed CONNACK.
bool parse_connack(const packet& p, std::uint8_t& code);
// What a CONNACK return code means, for a log line.
const char* connack_text(std::uint8_t code);
// Two-byte packet id of PUBACK / SUBACK, and SUBACK's first return code.
bool parse_packet_id(const packet& p, std::uint16_t& id);

// Keepalive timing shared by every client of the core (boards and the Linux SDK): a PINGREQ
// when either direction was quiet for half the keepalive (so a client that only sends QoS 0
// still hears from the broker), none while one is unanswered, and the link counts as dead when
// nothing came for one and a half times it (the broker's own limit, MQTT 3.1.1 3.1.2.10).
class keepalive final {
  public:
    explicit keepalive(std::uint16_t seconds = 30)
        : ms_(static_cast<std::uint64_t>(seconds) * 1000) {}
    void start(std::uint64_t now) {
        last_rx_ = last_tx_ = now;
        pinged_ = false;
    }
    void sent(std::uint64_t now) { last_tx_ = now; }
    void pinged(std::uint64_t now) {
        last_tx_ = now;
        pinged_ = true;
    }
    void received(std::uint64_t now) {
        last_rx_ = now;
        pinged_ = false;
    }
    bool ping_due(std::uint64_t now) const {
        return ms_ != 0 && !pinged_ && (now - last_tx_ >= ms_ / 2 || now - last_rx_ >= ms_ / 2);
    }
    bool expired(std::uint64_t now) const { return ms_ != 0 && now - last_rx_ > ms_ * 3 / 2; }
    // When ping_due or expired next turns true; 0 without keepalive.
    std::uint64_t next_deadline() const;

  private:
    std::uint64_t ms_;
    std::uint64_t last_rx_ = 0;
    std::uint64_t last_tx_ = 0;
    bool pinged_ = false;
};

enum class feed_result { need_more, packet, skipped, malformed };

// Collects bytes into packets. Packets larger than the buffer are skipped whole (counted).
class reader final {
  public:
    reader(std::uint8_t* buffer, std::size_t capacity) : buf_(buffer), cap_(capacity) {}

    // Consumes bytes from data[0..size) up to the end of one packet; `used` says how many.
    feed_result feed(const std::uint8_t* data, std::size_t size, std::size_t& used, packet& out);
    void reset();
    std::uint32_t skipped() const { return skipped_; }

  private:
    std::uint8_t* buf_;
    std::size_t cap_;
    std::uint8_t header_ = 0;
    bool have_header_ = false;
    bool have_length_ = false;
    std::uint32_t length_ = 0;
    std::uint32_t multiplier_ = 1;
    std::uint32_t got_ = 0;
    std::uint32_t skipped_ = 0;
};

}  // namespace fogbridge::core::mqtt
