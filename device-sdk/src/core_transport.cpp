// mqtt_transport over the portable core's MQTT 3.1.1 client (core/mqtt.hpp: the packets, the
// incoming packet reader, keepalive timing), the same code the boards run, on a Linux TCP or
// TLS stream. Driven by the caller's thread; only wake() may be called from another.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "fogbridge/core/mqtt.hpp"
#include "fogbridge/mqtt_transport.hpp"
#include "net_stream.hpp"

namespace fogbridge {
namespace {

namespace mqtt = core::mqtt;

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// Incoming packets larger than this are skipped whole (the SDK only reads its small acks).
constexpr std::size_t max_incoming = 65536;
// Bytes queued for the broker beyond which publish() refuses (the caller re-sends later).
constexpr std::size_t max_queued = 16U << 20U;

class core_transport final : public mqtt_transport {
  public:
    core_transport()
        : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
          rx_(max_incoming),
          reader_(rx_.data(), rx_.size()) {
        if (wake_fd_ < 0) {
            throw std::runtime_error(std::string("mqtt: cannot create an eventfd: ") +
                                     std::strerror(errno));
        }
    }
    ~core_transport() override { ::close(wake_fd_); }
    core_transport(const core_transport&) = delete;
    core_transport& operator=(const core_transport&) = delete;

    void set_events(mqtt_transport_events* events) override { events_ = events; }
    std::string connect(const mqtt_connect_options& o) override;
    bool run_once(std::chrono::milliseconds max_wait) override;
    std::string last_error() const override { return last_error_; }
    std::optional<int> publish(const mqtt_message& m) override;
    bool subscribe(const std::string& topic, int qos) override;
    void disconnect() override;
    void wake() override { ::eventfd_write(wake_fd_, 1); }

  private:
    bool step(std::uint64_t now);
    bool receive(std::uint64_t now);
    bool handle(const mqtt::packet& p);
    bool flush(std::uint64_t now);
    bool lost(std::string why);
    void queue(const std::uint8_t* data, std::size_t size);
    std::uint16_t next_id();

    int wake_fd_;
    mqtt_transport_events* events_ = nullptr;
    detail::net_stream stream_;
    std::vector<std::uint8_t> rx_;
    mqtt::reader reader_;
    mqtt::keepalive keepalive_;
    std::string out_;  // encoded packets not yet written; out_[0..out_at_) are written
    std::size_t out_at_ = 0;
    std::uint16_t packet_id_ = 0;
    bool live_ = false;     // a connection (attempt) is running
    bool connack_ = false;  // the broker accepted it
    bool closing_ = false;  // DISCONNECT queued: close once it is written
    std::string last_error_;
};

std::string core_transport::connect(const mqtt_connect_options& o) {
    stream_.close();
    live_ = connack_ = closing_ = false;
    out_.clear();
    out_at_ = 0;
    reader_.reset();
    if (!stream_.open(o.host, o.port, o.tls)) {
        return stream_.error();
    }
    mqtt::connect_options c;
    c.client_id = o.client_id.c_str();
    c.keepalive_s =
        static_cast<std::uint16_t>(std::clamp<std::int64_t>(o.keepalive.count(), 0, 65535));
    if (o.will) {
        c.will_topic = o.will->topic.c_str();
        c.will_payload = o.will->payload.c_str();
        c.will_qos = static_cast<std::uint8_t>(o.will->qos);
        c.will_retain = o.will->retain;
    }
    std::vector<std::uint8_t> packet(64 + o.client_id.size() +
                                     (o.will ? o.will->topic.size() + o.will->payload.size() : 0));
    const std::size_t size = mqtt::encode_connect(packet.data(), packet.size(), c);
    if (size == 0) {
        stream_.close();
        return "CONNECT does not fit";
    }
    queue(packet.data(), size);
    keepalive_ = mqtt::keepalive(c.keepalive_s);
    keepalive_.start(now_ms());
    live_ = true;
    return {};
}

bool core_transport::run_once(std::chrono::milliseconds max_wait) {
    std::array<pollfd, 2> fds{{{wake_fd_, POLLIN, 0}, {stream_.fd(), POLLIN, 0}}};
    const bool polling = live_ && stream_.fd() >= 0;
    if (polling && (stream_.wants_write() || out_at_ < out_.size())) {
        fds[1].events = static_cast<short>(POLLIN | POLLOUT);
    }
    auto wait = max_wait.count();
    // A PINGREQ waits behind queued bytes (they reset the broker's timer as they go), so only an
    // empty queue sleeps to the keepalive's deadline; otherwise POLLOUT wakes us.
    if (polling && connack_ && out_at_ == out_.size()) {
        const std::uint64_t due = keepalive_.next_deadline();
        const std::uint64_t now = now_ms();
        wait = std::min<std::int64_t>(wait, due > now ? static_cast<std::int64_t>(due - now) : 0);
    }
    ::poll(fds.data(), polling ? 2 : 1, static_cast<int>(std::max<std::int64_t>(wait, 0)));
    if ((fds[0].revents & POLLIN) != 0) {
        eventfd_t ignored = 0;
        ::eventfd_read(wake_fd_, &ignored);
    }
    if (!live_) {
        if (last_error_.empty()) {
            last_error_ = "not connected";
        }
        return false;
    }
    return step(now_ms());
}

bool core_transport::step(std::uint64_t now) {
    if (stream_.progress() == detail::stream_state::failed) {
        return lost(stream_.error());
    }
    if (stream_.state() != detail::stream_state::open) {
        return true;  // TCP connect or TLS handshake under way
    }
    if (!receive(now) || !flush(now)) {
        return false;
    }
    if (closing_ && out_at_ == out_.size()) {
        return lost("disconnected");
    }
    if (connack_ && keepalive_.expired(now)) {
        return lost("keepalive timeout: nothing from the broker for 1.5 keepalive periods");
    }
    if (connack_ && !closing_ && out_at_ == out_.size() && keepalive_.ping_due(now)) {
        std::array<std::uint8_t, 2> ping{};
        queue(ping.data(), mqtt::encode_pingreq(ping.data(), ping.size()));
        keepalive_.pinged(now);
        return flush(now);
    }
    return true;
}

bool core_transport::receive(std::uint64_t now) {
    std::array<std::uint8_t, 4096> chunk{};
    for (int rounds = 0; rounds < 64; ++rounds) {
        const long n = stream_.read(chunk.data(), chunk.size());
        if (n < 0) {
            return lost(stream_.error());
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
                return lost("malformed packet from the broker (bad remaining length)");
            }
            if (r == mqtt::feed_result::skipped) {
                keepalive_.received(now);
            } else if (r == mqtt::feed_result::packet) {
                keepalive_.received(now);
                if (!handle(packet) || !live_) {
                    return false;
                }
            }
        }
    }
    return true;
}

bool core_transport::handle(const mqtt::packet& p) {
    switch (p.type) {
        case mqtt::packet_type::connack: {
            std::uint8_t code = 0xFF;
            if (connack_ || !mqtt::parse_connack(p, code)) {
                return lost("malformed or repeated CONNACK");
            }
            if (code != 0) {
                if (events_ != nullptr) {
                    events_->on_connect(false, mqtt::connack_text(code));
                }
                return lost(std::string("connection refused: ") + mqtt::connack_text(code));
            }
            connack_ = true;
            if (events_ != nullptr) {
                events_->on_connect(true, "");
            }
            return true;
        }
        case mqtt::packet_type::publish: {
            mqtt::incoming_publish m;
            if (!mqtt::parse_publish(p, m) || m.qos == 2) {
                return lost("malformed PUBLISH from the broker");
            }
            if (m.qos == 1) {
                std::array<std::uint8_t, 4> ack{};
                queue(ack.data(), mqtt::encode_puback(m.packet_id, ack.data(), ack.size()));
            }
            if (events_ != nullptr) {
                events_->on_message(incoming_message{
                    .topic = std::string_view(m.topic, m.topic_size),
                    .payload = std::string_view(reinterpret_cast<const char*>(m.payload),
                                                m.payload_size)});
            }
            return true;
        }
        case mqtt::packet_type::puback: {
            std::uint16_t id = 0;
            if (!mqtt::parse_packet_id(p, id)) {
                return lost("malformed PUBACK from the broker");
            }
            if (events_ != nullptr) {
                events_->on_published(id);
            }
            return true;
        }
        case mqtt::packet_type::suback:
            // Without its ack subscription the client would send and never see an ack.
            if (p.size < 3 || p.body[2] == 0x80) {
                return lost("the broker refused the subscription");
            }
            return true;
        default:
            return true;  // PINGRESP and anything a 3.1.1 broker may add
    }
}

bool core_transport::flush(std::uint64_t now) {
    while (out_at_ < out_.size()) {
        const long n = stream_.write(reinterpret_cast<const std::uint8_t*>(out_.data()) + out_at_,
                                     out_.size() - out_at_);
        if (n < 0) {
            return lost(stream_.error());
        }
        if (n == 0) {
            break;
        }
        out_at_ += static_cast<std::size_t>(n);
        keepalive_.sent(now);
    }
    if (out_at_ == out_.size()) {
        out_.clear();
        out_at_ = 0;
    } else if (out_at_ > 65536 && out_at_ > out_.size() / 2) {
        out_.erase(0, out_at_);  // what a retried TLS write needs stays at out_.data() + out_at_
        out_at_ = 0;
    }
    return true;
}

bool core_transport::lost(std::string why) {
    stream_.close();
    live_ = connack_ = closing_ = false;
    out_.clear();
    out_at_ = 0;
    last_error_ = std::move(why);
    return false;
}

void core_transport::queue(const std::uint8_t* data, std::size_t size) {
    out_.append(reinterpret_cast<const char*>(data), size);
}

std::uint16_t core_transport::next_id() {
    packet_id_ = static_cast<std::uint16_t>(packet_id_ == 0xFFFF ? 1 : packet_id_ + 1);
    return packet_id_;
}

std::optional<int> core_transport::publish(const mqtt_message& m) {
    if (!live_ || closing_ || out_.size() - out_at_ > max_queued || m.qos < 0 || m.qos > 1) {
        return std::nullopt;
    }
    const auto qos = static_cast<std::uint8_t>(m.qos);
    const std::uint16_t id = next_id();
    const std::size_t header = mqtt::publish_header_size(
        {.topic_size = m.topic.size(), .payload_size = m.payload.size(), .qos = qos});
    const std::size_t at = out_.size();
    out_.resize(at + header);
    const std::array<const char*, 2> parts = {m.topic.c_str(), nullptr};
    mqtt::encode_publish_header(reinterpret_cast<std::uint8_t*>(out_.data()) + at, header,
                                parts.data(), m.payload.size(), qos, m.retain, id);
    out_ += m.payload;
    return id;
}

bool core_transport::subscribe(const std::string& topic, int qos) {
    if (!live_ || closing_) {
        return false;
    }
    std::vector<std::uint8_t> packet(16 + topic.size());
    const std::size_t size = mqtt::encode_subscribe(
        packet.data(), packet.size(),
        {.packet_id = next_id(), .topic = topic.c_str(), .qos = static_cast<std::uint8_t>(qos)});
    queue(packet.data(), size);
    return size != 0;
}

void core_transport::disconnect() {
    if (!live_ || closing_) {
        return;
    }
    std::array<std::uint8_t, 2> packet{};
    queue(packet.data(), mqtt::encode_disconnect(packet.data(), packet.size()));
    closing_ = true;
}

}  // namespace

std::unique_ptr<mqtt_transport> make_core_transport() { return std::make_unique<core_transport>(); }

}  // namespace fogbridge
