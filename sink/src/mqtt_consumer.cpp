#include "mqtt_consumer.hpp"

#include <fmt/format.h>
#include <poll.h>

#include <array>
#include <ctime>
#include <iterator>

#include "common/tls_context.hpp"
#include "ingest/mqtt_wire.hpp"

namespace fogbridge::sink {
namespace {

constexpr std::uint16_t subscribe_id = 1;

}  // namespace

mqtt_consumer::mqtt_consumer(mqtt_settings settings, std::vector<std::string> filters)
    : settings_(std::move(settings)), filters_(std::move(filters)) {
    if (!settings_.ca_file.empty()) {
        tls_settings t;
        t.ca_file = settings_.ca_file;
        t.cert_file = settings_.cert_file;
        t.key_file = settings_.key_file;
        t.verify_hostname = settings_.verify_hostname;
        tls_ = std::make_unique<tls_context>(t, settings_.host,
                                             static_cast<double>(std::time(nullptr)));
    }
}

mqtt_consumer::~mqtt_consumer() = default;

net_error mqtt_consumer::fail(net_error why) {
    if (!error_) error_ = std::move(why);
    socket_.close();
    connected_ = false;
    in_.clear();
    return error_;
}

net_error mqtt_consumer::send(const std::string& bytes) {
    std::size_t done = 0;
    const auto deadline = clock::now() + std::chrono::seconds(settings_.keepalive);
    while (done < bytes.size()) {
        const auto r = socket_.write(bytes.data() + done, bytes.size() - done);
        if (r.error) return fail(r.error.prefixed("broker connection lost: "));
        done += r.bytes;
        if (r.bytes == 0) {
            const short ev = socket_.write_wants_read() ? POLLIN : POLLOUT;
            if (!wait_ready(socket_.fd(), ev, deadline, -1) && clock::now() >= deadline) {
                return fail({net_errc::timed_out, "broker connection: write timed out"});
            }
        }
    }
    last_sent_ = clock::now();
    return {};
}

net_error mqtt_consumer::connect(int cancel_fd) {
    error_ = {};
    early_.clear();
    socket_.close();
    connected_ = false;
    in_.clear();
    const auto deadline = clock::now() + std::chrono::milliseconds(
                                             static_cast<long>(settings_.connect_timeout * 1e3));
    if (tls_) tls_->clear_verify_error();
    auto why = socket_.open(settings_.host, settings_.port, tls_ ? tls_->native() : nullptr,
                            deadline, cancel_fd);
    if (why) {
        socket_.close();
        if (tls_ && !tls_->last_verify_error().empty()) {
            return {net_errc::tls_handshake, why.text() + ": " + tls_->last_verify_error()};
        }
        return why;
    }
    ++connection_;
    mqtt::connect_options o;
    o.client_id = settings_.client_id;
    o.clean_session = false;
    o.keepalive = settings_.keepalive;
    std::string out;
    mqtt::append_connect(out, o);
    mqtt::append_subscribe(out, subscribe_id, filters_, 1);
    if (auto failed = send(out)) return failed;
    last_received_ = clock::now();
    subscribed_ = false;
    // A resumed session may deliver PUBLISHes before the SUBACK: they wait in early_ for poll().
    while (!error_ && !(connected_ && subscribed_)) {
        if (!socket_.pending() && !wait_ready(socket_.fd(), POLLIN, deadline, cancel_fd)) {
            return fail({net_errc::timed_out, "no CONNACK and SUBACK in time"});
        }
        read_packets(&early_);
    }
    return error_;
}

net_error mqtt_consumer::read_packets(std::vector<inbound>* out) {
    std::array<char, 65536> buf;
    for (;;) {
        const auto r = socket_.read(buf.data(), buf.size());
        if (r.error) return fail(r.error.prefixed("broker connection lost: "));
        if (r.bytes == 0) break;
        in_.append(buf.data(), r.bytes);
        if (!socket_.pending() && r.bytes < buf.size()) break;
    }
    try {
        std::size_t used = 0;
        while (auto cut = mqtt::cut_packet(std::string_view(in_).substr(used))) {
            const auto& [p, size] = *cut;
            last_received_ = clock::now();
            switch (p.type()) {
                case mqtt::packet_type::connack: {
                    const auto c = mqtt::read_connack(p);
                    if (c.code != 0) {
                        return fail({net_errc::refused_by_broker,
                                     fmt::format("broker refused the connection: {}",
                                                 mqtt::connack_reason(c.code))});
                    }
                    connected_ = true;
                    session_present_ = c.session_present;
                    break;
                }
                case mqtt::packet_type::suback:
                    subscribed_ = true;
                    for (const auto code : mqtt::read_suback(p).codes) {
                        if (code == 0x80) {
                            return fail({net_errc::subscription_refused,
                                         "broker refused a subscription (not authorized?)"});
                        }
                    }
                    break;
                case mqtt::packet_type::publish: {
                    const auto v = mqtt::read_publish(p);
                    if (out != nullptr) {
                        out->push_back(
                            {std::string(v.topic), std::string(v.payload), v.id, connection_});
                    }
                    break;
                }
                default:
                    break;  // PINGRESP and anything else the broker may send
            }
            used += size;
        }
        in_.erase(0, used);
    } catch (const mqtt::protocol_error& e) {
        return fail(
            {net_errc::protocol_violation, std::string("broker broke the protocol: ") + e.what()});
    }
    return {};
}

net_error mqtt_consumer::poll(std::chrono::milliseconds timeout, std::vector<inbound>& out,
                              int cancel_fd) {
    if (!connected()) return error_ ? error_ : net_error(net_errc::connection_lost);
    if (!early_.empty()) {
        out.insert(out.end(), std::make_move_iterator(early_.begin()),
                   std::make_move_iterator(early_.end()));
        early_.clear();
        return {};
    }
    const auto now = clock::now();
    const auto keepalive = std::chrono::seconds(settings_.keepalive);
    if (now - last_received_ > keepalive + keepalive / 2) {
        return fail({net_errc::no_answer, "broker did not answer within the keepalive"});
    }
    if (now - last_sent_ >= keepalive / 2) {
        std::string ping;
        mqtt::append_pingreq(ping);
        if (auto failed = send(ping)) return failed;
    }
    if (!socket_.pending()) {
        const short ev = socket_.read_wants_write() ? POLLOUT : POLLIN;
        if (!wait_ready(socket_.fd(), ev, clock::now() + timeout, cancel_fd)) return {};
    }
    return read_packets(&out);
}

void mqtt_consumer::acknowledge(const inbound& m) {
    if (m.id == 0 || m.connection != connection_ || !connected()) return;
    std::string ack;
    mqtt::append_puback(ack, m.id);
    send(ack);
}

void mqtt_consumer::disconnect() {
    if (connected()) {
        std::string bye;
        mqtt::append_disconnect(bye);
        send(bye);
    }
    socket_.close();
    connected_ = false;
}

}  // namespace fogbridge::sink
