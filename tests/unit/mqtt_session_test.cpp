#include "ingest/mqtt_session.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace mqtt = fogbridge::mqtt;
using fogbridge::inbound_message;
using fogbridge::mqtt_session;
using fogbridge::net_errc;
using fogbridge::publish_options;
using fogbridge::qos;
using fogbridge::retain;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

const mqtt_session::clock::time_point t0{};

mqtt_session make_session() {
    mqtt_session::settings s;
    s.connect.client_id = "gw";
    s.connect.keepalive = 10;
    s.subscriptions = {"devices/+/readings"};
    s.connack_timeout = 5s;
    return mqtt_session(s);
}

// The packets in the session's output, which it then drops as written.
std::vector<std::string> take_output(mqtt_session& s) {
    std::vector<std::string> packets;
    std::string_view out = s.output();
    while (auto cut = mqtt::cut_packet(out)) {
        packets.emplace_back(out.substr(0, cut->second));
        out.remove_prefix(cut->second);
    }
    CHECK(out.empty());
    s.sent(s.output().size(), t0);
    return packets;
}

std::uint8_t type_of(const std::string& packet) {
    return static_cast<std::uint8_t>(packet[0]) >> 4U;
}

std::string publish_bytes(std::string_view topic, std::string_view payload, int qos,
                          std::uint16_t id) {
    std::string out;
    mqtt::append_publish(out, topic, payload,
                         {.qos = static_cast<fogbridge::qos>(qos), .retain = retain::no, .id = id});
    return out;
}

std::string puback_bytes(std::uint16_t id) {
    std::string out;
    mqtt::append_puback(out, id);
    return out;
}

const std::string connack_ok = "\x20\x02\x00\x00"s;

void connect(mqtt_session& s, mqtt_session::clock::time_point now = t0) {
    s.open(now);
    REQUIRE(type_of(take_output(s).at(0)) == 1);  // CONNECT
    const auto fed = s.feed(connack_ok, t0, nullptr);
    CHECK(fed.connected);
    CHECK(s.connected());
}

}  // namespace

TEST_CASE("mqtt session: CONNECT first, SUBSCRIBE once the broker accepted") {
    auto s = make_session();
    s.open(t0);
    const auto first = take_output(s);
    REQUIRE(first.size() == 1);
    CHECK(type_of(first[0]) == 1);
    CHECK_FALSE(s.connected());
    s.feed(connack_ok, t0, nullptr);
    const auto after = take_output(s);
    REQUIRE(after.size() == 1);
    CHECK(type_of(after[0]) == 8);
}

TEST_CASE("mqtt session: whole messages are handed out and acknowledged in one write") {
    auto s = make_session();
    connect(s);
    take_output(s);
    const std::string a = publish_bytes("devices/d1/readings", "{1}", 1, 7);
    const std::string b = publish_bytes("devices/d2/readings", "{2}", 0, 0);
    const std::string c = publish_bytes("devices/d3/readings", "{3}", 1, 8);
    const std::string data = a + b + c.substr(0, 5);
    std::vector<inbound_message> arrived;
    const auto fed = s.feed(data, t0, &arrived);
    CHECK(fed.used == a.size() + b.size());  // the partial third stays for the next read
    CHECK(fed.messages == 2);
    REQUIRE(arrived.size() == 2);
    CHECK(arrived[0].topic == "devices/d1/readings");
    CHECK(arrived[1].payload == "{2}");
    CHECK(s.output() == puback_bytes(7));  // QoS 0 needs none
}

TEST_CASE("mqtt session: while stopping, messages are left unacknowledged for the next session") {
    auto s = make_session();
    connect(s);
    take_output(s);
    const auto fed = s.feed(publish_bytes("devices/d1/readings", "{}", 1, 3), t0, nullptr);
    CHECK(fed.messages == 1);
    CHECK(s.output().empty());
}

TEST_CASE("mqtt session: QoS 1 publishes wait for a connection and are re-sent with DUP") {
    auto s = make_session();
    const auto id = s.publish("gateways/g/status", "online",
                              {.qos = qos::at_least_once, .retain = retain::yes});
    CHECK(s.output().empty());
    s.publish("devices/d1/ack", "lost",
              {.qos = qos::at_most_once});  // QoS 0 with no connection: dropped
    connect(s);
    auto sent = take_output(s);
    REQUIRE(sent.size() == 2);  // SUBSCRIBE, then the waiting publish
    auto p = mqtt::read_publish(mqtt::cut_packet(sent[1])->first);
    CHECK(p.id == id);
    CHECK_FALSE(p.dup);
    CHECK(p.retain);

    s.closed();  // no PUBACK came
    CHECK_FALSE(s.acknowledged(id));
    connect(s);
    sent = take_output(s);
    REQUIRE(sent.size() == 2);
    p = mqtt::read_publish(mqtt::cut_packet(sent[1])->first);
    CHECK(p.id == id);
    CHECK(p.dup);

    s.feed(puback_bytes(id), t0, nullptr);
    CHECK(s.acknowledged(id));
    CHECK(s.unacknowledged() == 0);
    s.closed();
    connect(s);
    CHECK(take_output(s).size() == 1);  // SUBSCRIBE only
}

TEST_CASE("mqtt session: packet ids skip 0 and those still waiting for a PUBACK") {
    auto s = make_session();
    connect(s);
    const auto waiting = s.publish("t", "x", {.qos = qos::at_least_once});
    std::set<std::uint16_t> seen;
    int bad = 0;
    for (int i = 0; i < 70000; ++i) {
        const auto id = s.publish("t", "x", {.qos = qos::at_least_once});
        if (id == 0 || id == waiting) ++bad;
        s.feed(puback_bytes(id), t0, nullptr);
        s.sent(s.output().size(), t0);
        seen.insert(id);
    }
    CHECK(bad == 0);
    CHECK(seen.size() == 65533);  // every id but 0, the waiting one and the SUBSCRIBE's
    CHECK(s.unacknowledged() == 1);
}

TEST_CASE("mqtt session: a refused connection and protocol errors are errors of their kind") {
    auto s = make_session();
    s.open(t0);
    const auto refused = s.feed("\x20\x02\x00\x05"s, t0, nullptr).error;
    CHECK(refused.is(net_errc::refused_by_broker));
    CHECK(refused.text() == "refused the connection: not authorized");
    s.open(t0);
    CHECK(
        s.feed(publish_bytes("t", "x", 1, 1), t0, nullptr).error.is(net_errc::protocol_violation));
    connect(s);
    CHECK(s.feed(connack_ok, t0, nullptr).error.is(net_errc::protocol_violation));
    CHECK(
        s.feed(publish_bytes("t", "x", 2, 1), t0, nullptr).error.is(net_errc::protocol_violation));
}

TEST_CASE("mqtt session: pings after a quiet keepalive, gives up when nothing answers") {
    auto s = make_session();
    s.open(t0);
    CHECK_FALSE(s.tick(t0 + 4s));
    CHECK(s.tick(t0 + 5s).is(net_errc::timed_out));  // no CONNACK in time

    connect(s, t0);
    take_output(s);
    s.sent(0, t0);
    CHECK(s.until_tick(t0) == 10s);
    CHECK_FALSE(s.tick(t0 + 9s));
    CHECK(s.output().empty());
    CHECK_FALSE(s.tick(t0 + 10s));
    REQUIRE(s.output() == "\xC0\x00"s);
    s.sent(2, t0 + 10s);
    CHECK_FALSE(s.tick(t0 + 19s));
    s.feed("\xD0\x00"s, t0 + 19s, nullptr);  // PINGRESP
    CHECK_FALSE(s.tick(t0 + 19s));
    CHECK(s.output().empty());
    CHECK_FALSE(s.tick(t0 + 20s));  // a keepalive after the last ping
    REQUIRE(s.output() == "\xC0\x00"s);
    s.sent(2, t0 + 20s);
    CHECK_FALSE(s.tick(t0 + 29s));
    CHECK(s.tick(t0 + 30s).is(net_errc::no_answer));  // unanswered for a keepalive
}

TEST_CASE("mqtt session: a stream cut anywhere yields the same messages") {
    std::string stream;
    for (int i = 0; i < 200; ++i) {
        const std::string payload(static_cast<std::size_t>(i * 7 % 300),
                                  static_cast<char>('a' + i % 26));
        stream += publish_bytes("devices/d" + std::to_string(i) + "/readings", payload, i % 2,
                                static_cast<std::uint16_t>(i % 2 == 1 ? i : 0));
    }
    std::minstd_rand rng(7);
    for (int round = 0; round < 20; ++round) {
        auto s = make_session();
        connect(s);
        std::vector<inbound_message> arrived;
        std::string buffer;
        std::size_t at = 0;
        while (at < stream.size()) {
            const std::size_t n = std::min<std::size_t>(1 + rng() % 400, stream.size() - at);
            buffer.append(stream, at, n);
            at += n;
            buffer.erase(0, s.feed(buffer, t0, &arrived).used);
        }
        CHECK(buffer.empty());
        REQUIRE(arrived.size() == 200);
        CHECK(arrived[199].topic == "devices/d199/readings");
        CHECK(arrived[150].payload ==
              std::string(150 * 7 % 300, static_cast<char>('a' + 150 % 26)));
    }
}

TEST_CASE("mqtt session: random bytes are consumed or refused as a protocol error") {
    std::minstd_rand rng(11);
    int refused = 0;
    for (int round = 0; round < 2000; ++round) {
        auto s = make_session();
        connect(s);
        std::string junk(1 + rng() % 64, '\0');
        for (char& c : junk) c = static_cast<char>(rng() & 0xFFU);
        std::vector<inbound_message> arrived;
        const auto fed = s.feed(junk, t0, &arrived);
        CHECK(fed.used <= junk.size());
        if (fed.error) {
            CHECK((fed.error.is(net_errc::protocol_violation) ||
                   fed.error.is(net_errc::refused_by_broker) ||
                   fed.error.is(net_errc::subscription_refused)));
            ++refused;
        }
    }
    CHECK(refused > 0);
}

TEST_CASE("mqtt session: a broker that goes quiet while we keep publishing is pinged too") {
    auto s = make_session();
    connect(s, t0);
    take_output(s);
    for (const auto at : {3s, 6s, 9s}) {
        s.publish("gateways/g/health", "{}",
                  {.qos = qos::at_least_once, .retain = retain::yes});  // never acknowledged
        s.sent(s.output().size(), t0 + at);
        CHECK_FALSE(s.tick(t0 + at));
    }
    CHECK(s.until_tick(t0 + 9s) == 1s);
    CHECK_FALSE(s.tick(t0 + 10s));
    CHECK(s.output() == "\xC0\x00"s);
    CHECK(s.tick(t0 + 20s).is(net_errc::no_answer));
}

TEST_CASE("mqtt session: retained publishes queued in an outage are sent once per topic") {
    auto s = make_session();
    for (int i = 0; i < 1000; ++i)
        s.publish("gateways/g/health", std::to_string(i),
                  {.qos = qos::at_least_once, .retain = retain::yes});
    s.publish("devices/d1/ack", "a", {.qos = qos::at_least_once, .retain = retain::yes});
    s.publish("devices/d1/ack", "b", {.qos = qos::at_least_once, .retain = retain::yes});
    CHECK(s.unacknowledged() == 2);
    connect(s);
    const auto sent = take_output(s);
    REQUIRE(sent.size() == 3);  // SUBSCRIBE, health, ack
    CHECK(mqtt::read_publish(mqtt::cut_packet(sent[1])->first).payload == "999");
    CHECK(mqtt::read_publish(mqtt::cut_packet(sent[2])->first).payload == "b");
}

TEST_CASE("mqtt session: a superseded publish already sent keeps its id until its PUBACK") {
    auto s = make_session();
    connect(s);
    take_output(s);
    const auto first =
        s.publish("gateways/g/health", "1", {.qos = qos::at_least_once, .retain = retain::yes});
    const auto second =
        s.publish("gateways/g/health", "2", {.qos = qos::at_least_once, .retain = retain::yes});
    CHECK(second != first);
    CHECK(s.unacknowledged() == 1);
    CHECK_FALSE(s.acknowledged(first));
    s.feed(puback_bytes(first), t0, nullptr);  // the late PUBACK of the first
    CHECK(s.acknowledged(first));
    CHECK_FALSE(s.acknowledged(second));
    s.closed();
    connect(s);
    const auto sent = take_output(s);
    REQUIRE(sent.size() == 2);  // SUBSCRIBE and the second again, not the first
    const auto p = mqtt::read_publish(mqtt::cut_packet(sent[1])->first);
    CHECK(p.payload == "2");
    CHECK(p.dup);
}

TEST_CASE("mqtt session: past the limit the oldest waiting publish is dropped and counted") {
    auto s = make_session();
    for (std::size_t i = 0; i < mqtt_session::max_pending + 5; ++i)
        s.publish("devices/d" + std::to_string(i) + "/x", "p", {.qos = qos::at_least_once});
    CHECK(s.unacknowledged() == mqtt_session::max_pending);
    CHECK(s.dropped() == 5);
    connect(s);
    const auto sent = take_output(s);
    REQUIRE(sent.size() == mqtt_session::max_pending + 1);
    CHECK(mqtt::read_publish(mqtt::cut_packet(sent[1])->first).topic == "devices/d5/x");
}

namespace {

// Connects and returns the packet id of the SUBSCRIBE that followed the CONNACK.
std::uint16_t connect_for_suback(mqtt_session& s) {
    connect(s);
    const auto out = take_output(s);
    REQUIRE(out.size() == 1);
    REQUIRE(type_of(out[0]) == 8);  // SUBSCRIBE
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(out[0][2]) << 8U) |
                                      static_cast<std::uint8_t>(out[0][3]));
}

std::string suback_bytes(std::uint16_t id, const std::string& codes) {
    std::string out = "\x90"s + static_cast<char>(2 + codes.size());
    out.push_back(static_cast<char>(id >> 8U));
    out.push_back(static_cast<char>(id & 0xFFU));
    return out + codes;
}

mqtt_session make_session_with_filters(std::vector<std::string> filters, std::size_t max = 1024) {
    mqtt_session::settings s;
    s.connect.client_id = "gw";
    s.connect.keepalive = 10;
    s.subscriptions = std::move(filters);
    s.max_packet_bytes = max;
    return mqtt_session(s);
}

// What a feed failed on, without the "protocol error: " the log line starts with.
std::string what_feed_throws(mqtt_session& s, const std::string& bytes) {
    std::vector<inbound_message> arrived;
    const auto error = s.feed(bytes, t0, &arrived).error;
    const std::string prefix = "protocol error: ";
    std::string text = error ? error.text() : "";
    if (error.is(net_errc::protocol_violation) && text.rfind(prefix, 0) == 0)
        text.erase(0, prefix.size());
    return text;
}

}  // namespace

TEST_CASE("mqtt session: the SUBACK must answer the SUBSCRIBE, filter for filter") {
    auto s = make_session_with_filters({"a/+", "b/+"});
    const auto id = connect_for_suback(s);
    CHECK_FALSE(s.subscribed());
    CHECK(what_feed_throws(s, suback_bytes(id + 1, "\x01\x01"s)) ==
          fmt::format("SUBACK for packet id {}, the SUBSCRIBE had {}", id + 1, id));
    const auto id2 = connect_for_suback(s);
    CHECK(what_feed_throws(s, suback_bytes(id2, "\x01"s)) ==
          "SUBACK with 1 return code(s) for 2 filter(s)");
    const auto id3 = connect_for_suback(s);
    CHECK(what_feed_throws(s, suback_bytes(id3, "\x01\x01\x01"s)) ==
          "SUBACK with 3 return code(s) for 2 filter(s)");
    const auto id4 = connect_for_suback(s);
    const auto fed = s.feed(suback_bytes(id4, "\x01\x02"s), t0, nullptr);
    CHECK(fed.subscribed);
    CHECK(s.subscribed());
    // A second SUBACK answers nothing.
    CHECK(what_feed_throws(s, suback_bytes(id4, "\x01\x01"s)) ==
          fmt::format("SUBACK {} without a SUBSCRIBE", id4));
}

TEST_CASE("mqtt session: a refused subscription or a QoS 0 grant ends the connection") {
    auto s = make_session_with_filters({"a/+", "b/+"});
    auto id = connect_for_suback(s);
    CHECK(s.feed(suback_bytes(id, "\x01\x80"s), t0, nullptr)
              .error.is(net_errc::subscription_refused));
    CHECK_FALSE(s.subscribed());
    id = connect_for_suback(s);
    CHECK(what_feed_throws(s, suback_bytes(id, "\x00\x01"s)).find("at QoS 0 only") !=
          std::string::npos);
    id = connect_for_suback(s);
    CHECK(what_feed_throws(s, suback_bytes(id, "\x80\x80"s)).find("refused 2 subscription") !=
          std::string::npos);
    // Closed and opened again, the session subscribes anew with a fresh id.
    s.closed();
    id = connect_for_suback(s);
    CHECK(s.feed(suback_bytes(id, "\x01\x01"s), t0, nullptr).subscribed);
}

TEST_CASE("mqtt session: malformed packets from the broker are protocol errors") {
    auto s = make_session_with_filters({"a/+"}, 1024);
    connect(s);
    // Too large: refused from the fixed header, with no body buffered.
    CHECK(what_feed_throws(s, "\x30\x80\x10"s) ==
          "packet of 2051 bytes, more than the 1024 allowed");
    connect(s);
    CHECK(what_feed_throws(s, "\x32\x05\x00\x01t\x00\x00"s) == "PUBLISH at QoS 1 with packet id 0");
    connect(s);
    CHECK(what_feed_throws(s, "\x40\x02\x00\x00"s) == "acknowledgement with packet id 0");
    connect(s);
    CHECK(what_feed_throws(s, "\xD0\x80\x00"s) == "packet length not minimally encoded");
    connect(s);
    CHECK(what_feed_throws(s, "\xD1\x00"s) == "packet type 13 with reserved flag bits 0x1");
    connect(s);
    CHECK(what_feed_throws(s, "\x30\xFF\xFF\xFF\xFF\x01"s) ==
          "packet length longer than four bytes");
    connect(s);
    CHECK(what_feed_throws(s, "\x90\x03\x00\x00\x01"s) == "SUBACK with packet id 0");
    // Well-formed packets before the bad one are still delivered.
    connect(s);
    std::vector<inbound_message> arrived;
    CHECK(s.feed(publish_bytes("t", "x", 1, 5) + "\x60\x02\x00\x01"s, t0, &arrived)
              .error.is(net_errc::protocol_violation));  // PUBREL with flags 0
    CHECK(arrived.size() == 1);
}
