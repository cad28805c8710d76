#include "ingest/mqtt_session.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fogbridge {

namespace {

// Thrown inside the session only; feed() returns them as net_errors.
struct refusal final : mqtt::protocol_error {
    refusal(net_errc c, const std::string& what) : mqtt::protocol_error(what), code(c) {}
    net_errc code;
};

refusal subscription_refusal(long refused, long qos0) {
    return {net_errc::subscription_refused,
            refused > 0
                ? fmt::format("the broker refused {} subscription(s) (SUBACK 0x80): check its ACL",
                              refused)
                : fmt::format("the broker granted {} subscription(s) at QoS 0 only: it would not "
                              "keep readings for the gateway while it is away (max_qos?)",
                              qos0)};
}

}  // namespace

mqtt_session::mqtt_session(settings s) : settings_(std::move(s)) {}

void mqtt_session::open(clock::time_point now) {
    out_.clear();
    open_ = true;
    connected_ = false;
    subscribed_ = false;
    subscribe_id_ = 0;
    ping_outstanding_ = false;
    opened_ = now;
    mqtt::append_connect(out_, settings_.connect);
    last_sent_ = now;
    last_received_ = now;
}

void mqtt_session::closed() {
    open_ = false;
    connected_ = false;
    subscribed_ = false;
    subscribe_id_ = 0;
    out_.clear();
    // Ids of superseded publishes were kept for their PUBACK, which cannot come now.
    for (auto it = by_id_.begin(); it != by_id_.end();) {
        it = !pending_.contains(it->second) ? by_id_.erase(it) : std::next(it);
    }
}

mqtt_session::fed mqtt_session::feed(std::string_view data, clock::time_point now,
                                     std::vector<inbound_message>* arrived) {
    fed result;
    try {
        while (auto cut = mqtt::cut_packet(data.substr(result.used), settings_.max_packet_bytes)) {
            result.used += cut->second;
            ping_outstanding_ = false;  // any packet shows the broker is there
            last_received_ = now;
            on_packet(cut->first, result, arrived);
        }
    } catch (const refusal& e) {
        result.error = {e.code, e.what()};
    } catch (const mqtt::protocol_error& e) {
        result.error = {net_errc::protocol_violation, fmt::format("protocol error: {}", e.what())};
    }
    return result;
}

void mqtt_session::on_packet(const mqtt::packet& p, fed& result,
                             std::vector<inbound_message>* arrived) {
    using mqtt::packet_type;
    if (!connected_ && p.type() != packet_type::connack) {
        throw mqtt::protocol_error("a packet before CONNACK");
    }
    switch (p.type()) {
        case packet_type::connack:
            on_connack(p, result);
            return;
        case packet_type::publish: {
            const auto m = mqtt::read_publish(p);
            if (m.qos == 2) throw mqtt::protocol_error("PUBLISH at QoS 2 (subscribed at QoS 1)");
            ++result.messages;
            if (arrived == nullptr) return;
            arrived->push_back({std::string(m.topic), std::string(m.payload)});
            if (m.qos == 1) mqtt::append_puback(out_, m.id);
            return;
        }
        case packet_type::puback:
            on_puback(mqtt::read_packet_id(p));
            return;
        case packet_type::suback:
            on_suback(p, result);
            return;
        case packet_type::pingresp:
            return;
        default:
            throw mqtt::protocol_error(
                fmt::format("unexpected packet type {}", static_cast<int>(p.type())));
    }
}

void mqtt_session::on_connack(const mqtt::packet& p, fed& result) {
    if (connected_) throw mqtt::protocol_error("a second CONNACK");
    const auto ack = mqtt::read_connack(p);
    if (ack.code != 0) {
        throw refusal(net_errc::refused_by_broker,
                      fmt::format("refused the connection: {}", mqtt::connack_reason(ack.code)));
    }
    connected_ = true;
    result.connected = true;
    if (!settings_.subscriptions.empty()) {
        subscribe_id_ = next_id();
        mqtt::append_subscribe(out_, subscribe_id_, settings_.subscriptions, 1);
    }
    // In publish order; DUP on those the broker may have seen already.
    for (auto& [order, m] : pending_) send(m);
}

void mqtt_session::on_puback(std::uint16_t id) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) return;  // a late duplicate
    if (const auto m = pending_.find(it->second); m != pending_.end()) forget(m);
    by_id_.erase(it);
}

// One SUBSCRIBE per connection: its SUBACK must name its id and answer each of its filters.
void mqtt_session::on_suback(const mqtt::packet& p, fed& result) {
    const auto ack = mqtt::read_suback(p);
    if (subscribe_id_ == 0) {
        throw mqtt::protocol_error(fmt::format("SUBACK {} without a SUBSCRIBE", ack.id));
    }
    if (ack.id != subscribe_id_) {
        throw mqtt::protocol_error(
            fmt::format("SUBACK for packet id {}, the SUBSCRIBE had {}", ack.id, subscribe_id_));
    }
    if (ack.codes.size() != settings_.subscriptions.size()) {
        throw mqtt::protocol_error(fmt::format("SUBACK with {} return code(s) for {} filter(s)",
                                               ack.codes.size(), settings_.subscriptions.size()));
    }
    subscribe_id_ = 0;
    const auto refused = std::count(ack.codes.begin(), ack.codes.end(), 0x80U);
    const auto qos0 = std::count(ack.codes.begin(), ack.codes.end(), 0U);
    if (refused > 0 || qos0 > 0) throw subscription_refusal(refused, qos0);
    subscribed_ = true;
    result.subscribed = true;
}

std::uint16_t mqtt_session::publish(std::string topic, std::string payload,
                                    publish_options options) {
    const auto retain = options.retain;
    if (options.qos == qos::at_most_once) {
        if (connected_) {
            mqtt::append_publish(out_, topic, payload,
                                 {.qos = qos::at_most_once, .retain = retain, .id = 0});
        }
        return 0;
    }
    if (retain == retain::yes) {
        if (stored* waiting = supersede(topic)) {
            waiting->payload = std::move(payload);
            return waiting->id;
        }
    }
    if (pending_.size() >= max_pending) {
        ++dropped_;
        const auto oldest = pending_.begin();
        if (!oldest->second.sent_before) by_id_.erase(oldest->second.id);  // else: as superseded
        forget(oldest);
    }
    const std::uint16_t id = next_id();
    const std::uint64_t order = ++order_;
    auto& m = pending_[order];
    m = {id, std::move(topic), std::move(payload), retain, false};
    by_id_[id] = order;
    if (retain == retain::yes) latest_retained_[m.topic] = order;
    if (connected_) send(m);
    return id;
}

// A retained publish replaces a waiting one on the same topic: the broker keeps only the last,
// so health reports and acks queued through a long outage stay one per topic. One not sent yet
// takes the new payload in place (returned, for the caller to fill); one sent already is no
// longer re-sent, but its id stays taken until its PUBACK or the end of the connection.
mqtt_session::stored* mqtt_session::supersede(const std::string& topic) {
    const auto latest = latest_retained_.find(topic);
    if (latest == latest_retained_.end()) return nullptr;
    const auto m = pending_.find(latest->second);
    if (m == pending_.end()) return nullptr;
    if (!m->second.sent_before) return &m->second;
    forget(m);
    return nullptr;
}

void mqtt_session::forget(std::map<std::uint64_t, stored>::iterator m) {
    const auto latest = latest_retained_.find(m->second.topic);
    if (latest != latest_retained_.end() && latest->second == m->first) {
        latest_retained_.erase(latest);
    }
    pending_.erase(m);
}

void mqtt_session::send(stored& m) {
    mqtt::append_publish(out_, m.topic, m.payload,
                         {.qos = qos::at_least_once,
                          .retain = m.retain,
                          .dup = m.sent_before ? mqtt::dup::yes : mqtt::dup::no,
                          .id = m.id});
    m.sent_before = true;
}

// Skips ids still waiting for their PUBACK and 0, which MQTT does not allow. max_pending keeps
// most ids free; all taken would need that many superseded publishes unacknowledged.
std::uint16_t mqtt_session::next_id() {
    for (int tries = 0; tries <= 0xFFFF; ++tries) {
        ++last_id_;
        if (last_id_ != 0 && last_id_ != subscribe_id_ && !by_id_.contains(last_id_)) {
            return last_id_;
        }
    }
    throw mqtt::protocol_error("every packet id is waiting for a PUBACK");
}

void mqtt_session::disconnect() {
    if (open_) mqtt::append_disconnect(out_);
}

void mqtt_session::sent(std::size_t n, clock::time_point now) {
    out_.erase(0, n);
    if (n > 0) last_sent_ = now;
}

net_error mqtt_session::tick(clock::time_point now) {
    if (until_tick(now) > clock::duration::zero()) return {};
    // Due: a CONNACK or an answer to the ping that has not come, or a keepalive of quiet.
    if (!connected_) return {net_errc::timed_out, "no CONNACK in time"};
    if (ping_outstanding_) return {net_errc::no_answer, "no answer to a ping within the keepalive"};
    mqtt::append_pingreq(out_);
    ping_outstanding_ = true;
    ping_sent_ = now;
    last_sent_ = now;
    return {};
}

mqtt_session::clock::duration mqtt_session::until_tick(clock::time_point now) const {
    if (!open_) return std::chrono::hours(1);
    if (!connected_) return opened_ + settings_.connack_timeout - now;
    const auto keepalive = std::chrono::seconds(settings_.connect.keepalive);
    if (keepalive.count() == 0) return std::chrono::hours(1);
    if (ping_outstanding_) return ping_sent_ + keepalive - now;
    // Quiet either way: a broker that stopped answering while we keep publishing is found too.
    return std::min(last_sent_, last_received_) + keepalive - now;
}

}  // namespace fogbridge
