#include "fogbridge/delivery_session.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
using fogbridge::ack_result;
using fogbridge::delivery_session;
using fogbridge::delivery_settings;
using fogbridge::outgoing_message;
using fogbridge::publish_result;

namespace {

using time_point = delivery_session::time_point;
const time_point t0{};

delivery_session make_session(std::size_t capacity = 100, std::size_t window = 1000,
                              std::size_t per_message = 1, std::uint64_t boot = 7) {
    delivery_settings s;
    s.device_id = "d1";
    s.max_in_flight = window;
    s.max_readings_per_message = per_message;
    s.max_pending_alerts = 2;
    return delivery_session(s, boot, std::make_unique<fogbridge::memory_buffer>(capacity));
}

void accept_n(delivery_session& s, int n) {
    for (int i = 0; i < n; ++i) {
        REQUIRE(s.accept("temperature", 20.0 + i, "C", 1000.0 + i) == publish_result::queued);
    }
}

// The (first, last) seqs of each readings message.
std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges(
    const std::vector<outgoing_message>& messages) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    for (const auto& m : messages) {
        if (m.first_seq != 0) {
            out.emplace_back(m.first_seq, m.last_seq);
        }
    }
    return out;
}

using seq_ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
constexpr std::size_t any = 100000;

}  // namespace

TEST_CASE("session: seqs count from 1 and only accepted readings take one") {
    auto s = make_session(3);
    CHECK(s.accept("temperature", 21.0, "C", 1.0) == publish_result::queued);
    CHECK(s.accept("temperature", std::numeric_limits<double>::quiet_NaN(), "C", 2.0) ==
          publish_result::invalid);
    CHECK(s.accept("temperature", 22.0, "C", 3.0) == publish_result::queued);
    CHECK(s.accept("temperature", 23.0, "C", 4.0) == publish_result::queued);
    CHECK(s.accept("temperature", 24.0, "C", 5.0) == publish_result::buffer_full);
    CHECK(s.last_seq() == 3);
    CHECK(s.buffered() == 3);
    CHECK(s.on_ack(7, 1, t0) == ack_result::progress);
    CHECK(s.accept("temperature", 25.0, "C", 6.0) == publish_result::queued);
    CHECK(s.last_seq() == 4);  // contiguous: the refused readings left no holes
    const auto& c = s.counters();
    CHECK(c.published == 4);
    CHECK(c.invalid == 1);
    CHECK(c.buffer_full == 1);
    CHECK(c.acked == 1);
}

TEST_CASE("session: invalid readings") {
    auto s = make_session();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(s.accept("temperature", inf, "C", 1.0) == publish_result::invalid);
    CHECK(s.accept("temperature", 1.0, "C", inf) == publish_result::invalid);
    CHECK(s.accept("", 1.0, "C", 1.0) == publish_result::invalid);
    CHECK(s.accept("a/b", 1.0, "C", 1.0) == publish_result::invalid);
    CHECK(s.accept("temperature", 1.0, "C\n", 1.0) == publish_result::invalid);
    CHECK(s.counters().invalid == 5);
    CHECK(s.last_seq() == 0);
}

TEST_CASE("session: nothing is sent while disconnected; after connecting, all in seq order") {
    auto s = make_session();
    accept_n(s, 3);
    CHECK(s.take_sendable(t0, any).empty());
    s.on_connected(t0);
    const auto out = s.take_sendable(t0, any);
    REQUIRE(out.size() == 3);
    CHECK(out[0].topic == "devices/d1/readings");
    CHECK(out[0].qos == 1);
    CHECK_FALSE(out[0].retain);
    CHECK(out[0].payload ==
          R"({"sensor":"temperature","value":20,"unit":"C","ts":1000,"boot":7,"seq":1})");
    CHECK(ranges(out) == seq_ranges{{1, 1}, {2, 2}, {3, 3}});
    CHECK(s.take_sendable(t0, any).empty());  // each goes out once
    CHECK(s.in_flight() == 3);
    CHECK(s.counters().sent == 3);
}

TEST_CASE("session: the in-flight window pauses sending until acks arrive") {
    auto s = make_session(100, 3);
    accept_n(s, 5);
    s.on_connected(t0);
    CHECK(ranges(s.take_sendable(t0, any)) == seq_ranges{{1, 1}, {2, 2}, {3, 3}});
    CHECK(s.take_sendable(t0, any).empty());
    CHECK(s.on_ack(7, 2, t0 + 1s) == ack_result::progress);  // partial ack
    CHECK(s.buffered() == 3);
    CHECK(ranges(s.take_sendable(t0 + 1s, any)) == seq_ranges{{4, 4}, {5, 5}});
}

TEST_CASE("session: max_messages limits one call") {
    auto s = make_session();
    accept_n(s, 5);
    s.on_connected(t0);
    CHECK(ranges(s.take_sendable(t0, 2)) == seq_ranges{{1, 1}, {2, 2}});
    CHECK(ranges(s.take_sendable(t0, 2)) == seq_ranges{{3, 3}, {4, 4}});
    CHECK(ranges(s.take_sendable(t0, 2)) == seq_ranges{{5, 5}});
}

TEST_CASE("session: acks for another boot, unassigned seqs and repeats change nothing") {
    auto s = make_session();
    accept_n(s, 3);
    CHECK(s.on_ack(8, 3, t0) == ack_result::other_boot);
    CHECK(s.on_ack(7, 4, t0) == ack_result::out_of_range);
    CHECK(s.buffered() == 3);
    CHECK(s.on_ack(7, 2, t0) == ack_result::progress);
    CHECK(s.on_ack(7, 2, t0) == ack_result::duplicate);
    CHECK(s.on_ack(7, 1, t0) == ack_result::duplicate);
    CHECK(s.buffered() == 1);
    CHECK(s.acked_seq() == 2);
    CHECK(s.counters().ignored_acks == 2);
    CHECK(s.counters().acked == 2);
    CHECK(s.on_ack_payload(R"({"boot":7,"seq":3})", t0) == ack_result::progress);
    CHECK(s.on_ack_payload("garbage", t0) == ack_result::malformed);
    CHECK(s.buffered() == 0);
}

TEST_CASE("session: a reconnect re-sends everything unacknowledged, in seq order") {
    auto s = make_session();
    accept_n(s, 5);
    s.on_connected(t0);
    CHECK(s.take_sendable(t0, any).size() == 5);
    CHECK(s.on_ack(7, 2, t0) == ack_result::progress);
    s.on_disconnected();
    accept_n(s, 1);  // seq 6, never sent
    CHECK(s.take_sendable(t0, any).empty());
    s.on_connected(t0 + 5s);
    CHECK(ranges(s.take_sendable(t0 + 5s, any)) == seq_ranges{{3, 3}, {4, 4}, {5, 5}, {6, 6}});
    CHECK(s.counters().resent == 3);
    CHECK(s.counters().sent == 6);
}

TEST_CASE("session: a retained ack after reconnect skips what it covers") {
    auto s = make_session();
    accept_n(s, 4);
    s.on_connected(t0);
    CHECK(s.take_sendable(t0, any).size() == 4);
    s.on_disconnected();
    s.on_connected(t0 + 1s);
    CHECK(s.on_ack(7, 3, t0 + 1s) == ack_result::progress);  // arrives before the re-send
    CHECK(ranges(s.take_sendable(t0 + 1s, any)) == seq_ranges{{4, 4}});
}

TEST_CASE("session: without ack progress for resend_timeout, send again from the first unacked") {
    auto s = make_session();  // resend_timeout 10 s
    accept_n(s, 3);
    s.on_connected(t0);
    CHECK(s.take_sendable(t0, any).size() == 3);
    CHECK(s.next_deadline() == t0 + 10s);
    CHECK(s.take_sendable(t0 + 9s, any).empty());
    CHECK(s.on_ack(7, 1, t0 + 9s) == ack_result::progress);  // progress restarts the clock
    CHECK(s.next_deadline() == t0 + 19s);
    CHECK(s.take_sendable(t0 + 18s, any).empty());
    CHECK(ranges(s.take_sendable(t0 + 19s, any)) == seq_ranges{{2, 2}, {3, 3}});
    CHECK(s.counters().resent == 2);
    CHECK(s.next_deadline() == t0 + 29s);
    CHECK(s.on_ack(7, 3, t0 + 20s) == ack_result::progress);
    CHECK_FALSE(s.next_deadline().has_value());  // nothing in flight
}

TEST_CASE("session: the resend clock starts when sending starts from idle") {
    auto s = make_session();
    s.on_connected(t0);
    accept_n(s, 1);
    CHECK(s.take_sendable(t0 + 100s, any).size() == 1);
    CHECK(s.next_deadline() == t0 + 110s);
}

TEST_CASE("session: readings are packed into arrays of up to max_readings_per_message") {
    auto s = make_session(100, 1000, 3);
    accept_n(s, 7);
    s.on_connected(t0);
    const auto out = s.take_sendable(t0, any);
    CHECK(ranges(out) == seq_ranges{{1, 3}, {4, 6}, {7, 7}});
    REQUIRE(out.size() == 3);
    CHECK(out[0].payload.front() == '[');
    CHECK(out[0].payload ==
          R"([{"sensor":"temperature","value":20,"unit":"C","ts":1000,"boot":7,"seq":1},)"
          R"({"sensor":"temperature","value":21,"unit":"C","ts":1001,"boot":7,"seq":2},)"
          R"({"sensor":"temperature","value":22,"unit":"C","ts":1002,"boot":7,"seq":3}])");
    CHECK(out[2].payload ==
          R"({"sensor":"temperature","value":26,"unit":"C","ts":1006,"boot":7,"seq":7})");
}

TEST_CASE("session: a message of several readings stops short of max_message_bytes") {
    delivery_settings ds;
    ds.device_id = "d1";
    ds.max_readings_per_message = 1000;
    ds.max_message_bytes = 1024;
    delivery_session s(ds, 7, std::make_unique<fogbridge::memory_buffer>(1000));
    accept_n(s, 100);  // about 75 bytes each
    s.on_connected(t0);
    const auto out = s.take_sendable(t0, any);
    std::uint64_t next = 1;
    for (const auto& m : out) {
        CHECK(m.payload.size() <= 1024);
        CHECK(m.first_seq == next);  // nothing skipped, nothing twice
        next = m.last_seq + 1;
    }
    CHECK(next == 101);
    CHECK(out.size() > 1);
    CHECK(out.front().last_seq > 10);  // still packed, not one reading a message
}

TEST_CASE("session: packing respects the in-flight window") {
    auto s = make_session(100, 4, 3);
    accept_n(s, 7);
    s.on_connected(t0);
    CHECK(ranges(s.take_sendable(t0, any)) == seq_ranges{{1, 3}, {4, 4}});
}

TEST_CASE("session: alerts go out before readings and wait for a connection, bounded") {
    auto s = make_session();
    accept_n(s, 2);
    const fogbridge::alert_event a{"temperature", 31.0, 30.0, fogbridge::alert_direction::above,
                                   5.0,           0};
    CHECK(s.enqueue_alert(a));
    CHECK(s.enqueue_alert(a));
    CHECK_FALSE(s.enqueue_alert(a));  // max_pending_alerts is 2
    CHECK(s.counters().alerts == 3);
    CHECK(s.counters().alerts_dropped == 1);
    s.on_disconnected();  // alerts survive a disconnect
    s.on_connected(t0);
    const auto out = s.take_sendable(t0, any);
    REQUIRE(out.size() == 4);
    CHECK(out[0].topic == "devices/d1/alerts");
    CHECK(out[0].qos == 1);
    CHECK(out[0].payload ==
          R"({"sensor":"temperature","value":31,"threshold":30,"rule":"above","ts":5,"boot":7})");
    CHECK(out[1].topic == "devices/d1/alerts");
    CHECK(ranges(out) == seq_ranges{{1, 1}, {2, 2}});
    CHECK(s.enqueue_alert(a));  // room again once sent
}

TEST_CASE("session: health passes through only while connected") {
    auto s = make_session();
    CHECK_FALSE(s.enqueue_health(R"({"uptime":1})"));
    s.on_connected(t0);
    CHECK(s.enqueue_health(R"({"uptime":2})"));
    s.on_disconnected();  // stale health is dropped
    s.on_connected(t0);
    CHECK(s.take_sendable(t0, any).empty());
    CHECK(s.enqueue_health(R"({"uptime":3})"));
    const auto out = s.take_sendable(t0, any);
    REQUIRE(out.size() == 1);
    CHECK(out[0].topic == "devices/d1/health");
    CHECK(out[0].payload == R"({"uptime":3})");
    CHECK(out[0].qos == 0);
}

namespace {

// A session of boot 7 over a buffer that already holds readings of boots 5 (seqs 3-5) and 6
// (seqs 1-2), as a file buffer reloads them after restarts.
delivery_session session_with_earlier_boots(std::size_t window = 1000) {
    auto buffer = std::make_unique<fogbridge::memory_buffer>(100);
    for (std::uint64_t seq = 3; seq <= 5; ++seq) {
        REQUIRE(buffer->push({5, seq, "humidity", 40.0 + static_cast<double>(seq), "%", 500.0}));
    }
    for (std::uint64_t seq = 1; seq <= 2; ++seq) {
        REQUIRE(buffer->push({6, seq, "humidity", 50.0 + static_cast<double>(seq), "%", 600.0}));
    }
    delivery_settings s;
    s.device_id = "d1";
    s.max_in_flight = window;
    return delivery_session(s, 7, std::move(buffer));
}

// (boot, first seq, last seq) of each readings message.
std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> boot_ranges(
    const std::vector<outgoing_message>& messages) {
    std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> out;
    for (const auto& m : messages) {
        if (m.first_seq != 0) {
            out.emplace_back(m.boot, m.first_seq, m.last_seq);
        }
    }
    return out;
}

using boot_seq_ranges = std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>;

}  // namespace

TEST_CASE("session: earlier boots' readings go first, one boot at a time, with their own ids") {
    auto s = session_with_earlier_boots();
    CHECK(s.counters().recovered == 5);
    CHECK(s.sending_boot() == 5);
    accept_n(s, 2);  // boot 7, seqs 1-2: they wait
    CHECK(s.last_seq() == 2);
    CHECK(s.buffered() == 7);
    s.on_connected(t0);
    const auto first = s.take_sendable(t0, any);
    CHECK(boot_ranges(first) == boot_seq_ranges{{5, 3, 3}, {5, 4, 4}, {5, 5, 5}});
    CHECK(first[0].payload ==
          R"({"sensor":"humidity","value":43,"unit":"%","ts":500,"boot":5,"seq":3})");
    CHECK(s.take_sendable(t0, any).empty());  // boot 6 waits for every ack of boot 5
    CHECK(s.on_ack(5, 4, t0) == ack_result::progress);
    CHECK(s.take_sendable(t0, any).empty());
    CHECK(s.on_ack(5, 5, t0) == ack_result::progress);
    CHECK(s.sending_boot() == 6);
    CHECK(boot_ranges(s.take_sendable(t0, any)) == boot_seq_ranges{{6, 1, 1}, {6, 2, 2}});
    CHECK(s.on_ack(6, 2, t0) == ack_result::progress);
    CHECK(s.sending_boot() == 7);
    CHECK(boot_ranges(s.take_sendable(t0, any)) == boot_seq_ranges{{7, 1, 1}, {7, 2, 2}});
    CHECK(s.on_ack(7, 2, t0) == ack_result::progress);
    CHECK(s.acked_seq() == 2);
    CHECK(s.buffered() == 0);
    CHECK(s.counters().acked == 7);
    CHECK(s.counters().sent == 7);
    CHECK(s.counters().published == 2);
}

TEST_CASE("session: the retained ack of a later boot releases the earlier boots") {
    auto s = session_with_earlier_boots();
    accept_n(s, 1);
    s.on_connected(t0);
    // A run before a power loss had sent boot 6 already; the file lost that boot 5 was done.
    CHECK(s.on_ack(6, 1, t0) == ack_result::progress);
    CHECK(s.buffered() == 2);
    CHECK(s.sending_boot() == 6);
    CHECK(boot_ranges(s.take_sendable(t0, any)) == boot_seq_ranges{{6, 2, 2}});
    CHECK(s.counters().acked == 4);
}

TEST_CASE("session: an ack beyond what an earlier boot kept releases all of it") {
    auto s = session_with_earlier_boots();
    s.on_connected(t0);
    CHECK(s.on_ack(5, 2, t0) == ack_result::duplicate);  // below what is buffered
    CHECK(s.on_ack(5, 9, t0) == ack_result::progress);   // the file lost seqs 6-9 at power loss
    CHECK(s.sending_boot() == 6);
    CHECK(s.buffered() == 2);
}

TEST_CASE("session: acks that cannot be right while earlier boots wait are ignored") {
    auto s = session_with_earlier_boots();
    accept_n(s, 2);
    s.on_connected(t0);
    CHECK(s.on_ack(7, 1, t0) == ack_result::out_of_range);  // boot 7 was not sent yet
    CHECK(s.on_ack(4, 9, t0) == ack_result::other_boot);    // not buffered
    CHECK(s.buffered() == 7);
    CHECK(s.counters().ignored_acks == 2);
    CHECK(s.sending_boot() == 5);
}

TEST_CASE("session: an earlier boot's readings are re-sent after a timeout and a reconnect") {
    auto s = session_with_earlier_boots();
    s.on_connected(t0);
    CHECK(s.take_sendable(t0, any).size() == 3);
    CHECK(s.on_ack(5, 3, t0 + 1s) == ack_result::progress);
    CHECK(boot_ranges(s.take_sendable(t0 + 11s, any)) == boot_seq_ranges{{5, 4, 4}, {5, 5, 5}});
    s.on_disconnected();
    s.on_connected(t0 + 12s);
    CHECK(boot_ranges(s.take_sendable(t0 + 12s, any)) == boot_seq_ranges{{5, 4, 4}, {5, 5, 5}});
    CHECK(s.counters().resent == 4);
}

TEST_CASE("session: a buffer holding the session's own boot is refused") {
    auto buffer = std::make_unique<fogbridge::memory_buffer>(10);
    REQUIRE(buffer->push({7, 1, "t", 1.0, "", 1.0}));
    delivery_settings s;
    s.device_id = "d1";
    CHECK_THROWS_AS(delivery_session(s, 7, std::move(buffer)), std::invalid_argument);
}
