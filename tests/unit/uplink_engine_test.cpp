// uplink_engine on a manual clock with a fake store and link (uplink_engine_harness.hpp): the
// window, PUBACK deadlines, backoff, refused batches, rotation, store errors and time steps.
#include <doctest/doctest.h>

#include "uplink_engine_harness.hpp"

using namespace fogbridge;
using namespace fogbridge::test;

TEST_CASE("uplink engine: connects at once, says online (tracked), resends what is leased first") {
    harness h;
    h.leased_on_resume = {make_lease("old-1", 3), make_lease("old-2", 3)};
    h.connect();
    CHECK(h.connects == 1);
    CHECK(h.engine.status().state == uplink_state::connected);
    REQUIRE(h.published.size() == 3);
    CHECK(h.published[0].topic == "fogbridge/gw/status");
    CHECK(h.published[0].payload == "online");
    CHECK(h.published[0].retain == retain::yes);
    CHECK(h.published[1].batch_id == "old-1");
    CHECK(h.published[2].batch_id == "old-2");
    CHECK(h.published[1].topic == "fogbridge/gw/batch");
    CHECK(h.engine.status().in_flight == 3);
}

TEST_CASE("uplink engine: the window holds at most cloud.window, or the broker's receive maximum") {
    harness h;
    for (int i = 0; i < 10; ++i) h.add_live("b" + std::to_string(i), 10);
    h.connect();
    CHECK(h.in_flight.size() == 4);  // status + 3 batches
    h.puback(1);                     // the status
    CHECK(h.in_flight.size() == 4);
    CHECK(h.count(publish_kind::batch) == 4);
    // All PUBACKs of a turn reach the store in one acknowledgement.
    h.puback_all();
    CHECK(h.acked_ids.size() == 4);
    CHECK(h.engine.status().batches_acked == 4);
    CHECK(h.engine.status().readings_acked == 40);

    harness small;
    for (int i = 0; i < 5; ++i) small.add_live("b" + std::to_string(i), 10);
    small.connect(broker_limits{2, 0, true, 0});
    CHECK(small.engine.window() == 2);
    CHECK(small.in_flight.size() == 2);
}

TEST_CASE("uplink engine: a batch is due at max_readings at once, else after max_delay") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("small", 3);
    h.run();
    CHECK(h.count(publish_kind::batch) == 0);
    h.advance(0.5);
    CHECK(h.count(publish_kind::batch) == 0);
    h.advance(0.6);
    CHECK(h.count(publish_kind::batch) == 1);
}

TEST_CASE("uplink engine: a lost PUBACK replaces the link after puback_timeout; resent, same id") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("lost", 10);
    h.run();
    REQUIRE(h.in_flight.size() == 1);
    const int lost_mid = h.in_flight.begin()->first;
    // Later batches are acknowledged all along; the lost one keeps its own deadline.
    for (int i = 0; i < 15; ++i) {
        h.add_live("n" + std::to_string(i), 10);
        h.advance(0.1);
        for (auto it = h.in_flight.begin(); it != h.in_flight.end();) {
            if (it->first == lost_mid) {
                ++it;
                continue;
            }
            h.engine.on_puback({.mid = it->first}, h.clock.now());
            it = h.in_flight.erase(it);
        }
        h.run();
    }
    CHECK(h.disconnects == 0);
    h.advance(0.6);  // 2.1 s after the send
    CHECK(h.disconnects == 1);
    CHECK(h.engine.status().state == uplink_state::disconnected);
    CHECK(h.engine.status().last_error.text.find("no PUBACK for batch lost") != std::string::npos);
    // The store still holds it leased: the next session sends it again with its batch_id.
    h.leased_on_resume = {make_lease("lost", 10)};
    h.advance(0.1);
    CHECK(h.connects == 1);  // backoff: not yet
    h.advance(8.1);
    REQUIRE(h.connects == 2);
    h.engine.on_connected({}, h.clock.now());
    h.run();
    CHECK(h.published.back().batch_id == "lost");
}

TEST_CASE("uplink engine: no CONNACK within connect_timeout drops the attempt") {
    harness h;
    h.run();
    CHECK(h.connects == 1);
    h.advance(2.9);
    CHECK(h.disconnects == 0);
    h.advance(0.2);
    CHECK(h.disconnects == 1);
    CHECK(h.engine.status().last_error.text.find("CONNACK") != std::string::npos);
    CHECK(h.engine.status().last_error.code == net_errc::timed_out);
}

TEST_CASE("uplink engine: reconnect delays are decorrelated jitter within the bounds") {
    harness h;
    h.run();
    double previous = 0.5;
    for (int attempt = 0; attempt < 12; ++attempt) {
        REQUIRE(h.link_up);
        h.engine.on_connection_lost({net_errc::connection_lost, "refused"}, h.clock.now());
        h.link_up = false;
        const auto due = h.engine.next_deadline();
        REQUIRE(due);
        const double delay = to_seconds(*due - h.clock.now().mono);
        CHECK(delay >= 0.5 - 1e-3);
        CHECK(delay <= std::min(8.0, previous * 3) + 1e-3);
        previous = delay;
        const int before = h.connects;
        h.advance(delay - 0.01);
        CHECK(h.connects == before);
        h.advance(0.02);
        CHECK(h.connects == before + 1);
    }
    // A connection that worked starts again from the shortest delay.
    h.engine.on_connected({}, h.clock.now());
    h.run();
    h.engine.on_connection_lost({net_errc::connection_lost, "gone"}, h.clock.now());
    const double delay = to_seconds(*h.engine.next_deadline() - h.clock.now().mono);
    CHECK(delay <= 1.5 + 1e-3);
}

TEST_CASE("uplink engine: a refused batch is not acknowledged and goes again after a pause") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("r", 10);
    h.run();
    REQUIRE(h.in_flight.size() == 1);
    h.puback(h.in_flight.begin()->first, 0x97);
    CHECK(h.acked_ids.empty());
    CHECK(h.engine.status().batches_refused == 1);
    CHECK(h.disconnects == 0);
    h.advance(4.9);
    CHECK(h.in_flight.empty());
    h.advance(0.2);
    REQUIRE(h.in_flight.size() == 1);
    CHECK(h.in_flight.begin()->second.batch_id == "r");
    h.puback_all();
    CHECK(h.acked_ids == std::vector<std::string>{"r"});
}

TEST_CASE("uplink engine: the backlog drains at replay_rate beside live batches") {
    auto s = engine_settings();
    s.batch.replay_rate = 20;  // readings per second
    s.batch.max_readings = 100;
    harness h(s);
    for (int i = 0; i < 10; ++i) h.add_backlog("old" + std::to_string(i), 20);
    for (int i = 0; i < 10; ++i) h.add_live("new" + std::to_string(i), 100);
    h.connect();
    // Live batches leave a quarter of the window (one slot) to the backlog.
    CHECK(h.count(publish_kind::batch) == 3);
    std::size_t replay = 0;
    for (int second = 0; second < 5; ++second) {
        h.puback_all();
        h.advance(1.0);
    }
    for (const auto& p : h.published) replay += p.batch_id.rfind("old", 0) == 0 ? 1 : 0;
    // 20 readings per second in batches of one second's worth: about one batch a second.
    CHECK(replay >= 4);
    CHECK(replay <= 7);
    for (const auto& a : h.lease_asks)
        if (a.lane == lease_lane::backlog) CHECK(a.max_readings <= 20);
    CHECK(h.engine.status().replay_batches_sent == replay);
}

TEST_CASE("uplink engine: gap records wait for max_delay, go on their topic, are acknowledged") {
    harness h;
    h.connect();
    h.puback_all();
    h.stats.gap_records = 1;
    h.stats.oldest_gap = h.clock.now().wall;
    h.gaps.push_back(gap_lease{"g1", {gap_record{}}, h.clock.now().wall});
    h.run();
    CHECK(h.in_flight.empty());
    h.advance(1.1);
    REQUIRE(h.in_flight.size() == 1);
    CHECK(h.in_flight.begin()->second.topic == "fogbridge/gw/gaps");
    CHECK(h.in_flight.begin()->second.payload.find("\"gap_id\":\"g1\"") != std::string::npos);
    h.puback_all();
    CHECK(h.acked_gaps == std::vector<std::string>{"g1"});
}

TEST_CASE("uplink engine: a store error ends the session with backoff, counted, then recovers") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("b", 10);
    h.engine.on_store_error(store_errc::io, "disk I/O error", h.clock.now());
    h.run();
    CHECK(h.disconnects == 1);
    CHECK(h.engine.status().store_errors == 1);
    CHECK(h.engine.status().state == uplink_state::disconnected);
    CHECK(h.engine.status().last_error.text.find("store error: disk I/O error") !=
          std::string::npos);
    CHECK(h.engine.status().last_error.code == store_errc::io);
    CHECK(h.connects == 1);  // not at once
    h.advance(8.1);
    CHECK(h.connects == 2);
    h.engine.on_connected({}, h.clock.now());
    h.run();
    CHECK(h.published.back().batch_id == "b");
    // Without a link it only delays the next attempt.
    h.engine.on_connection_lost({net_errc::connection_lost, "gone"}, h.clock.now());
    h.engine.on_store_error(store_errc::busy, "again", h.clock.now());
    CHECK(h.engine.status().store_errors == 2);
}

TEST_CASE("uplink engine: while disconnected the next deadline is the reconnect, not a batch") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("waiting", 3);
    h.run();  // not due before max_delay (1 s)
    h.clock.advance(0.9);
    h.engine.on_connection_lost({net_errc::connection_lost, "gone"},
                                h.clock.now());  // reconnect in 0.5 s at the earliest
    h.clock.advance(0.2);                        // the batch's delay passed
    const auto due = h.engine.next_deadline();
    REQUIRE(due);
    CHECK(*due > h.clock.now().mono);  // the driver sleeps instead of spinning
}

TEST_CASE("uplink engine: a certificate rotation replaces the link at once") {
    harness h;
    h.connect();
    h.engine.request_rotation(h.clock.now());
    h.run();
    CHECK(h.disconnects == 1);
    CHECK(h.connects == 2);  // no backoff
    CHECK_FALSE(h.engine.status().last_error);
}

TEST_CASE("uplink engine: alerts and reports never starve batches") {
    harness h;
    for (int i = 0; i < 50; ++i)
        h.engine.queue_urgent({"fogbridge/gw/alert", "{}", retain::no, urgent_kind::alert, "d1"});
    for (int i = 0; i < 20; ++i) h.add_live("b" + std::to_string(i), 10);
    h.connect();
    h.puback(1);  // the status
    // Urgent first, but one slot of the window stays for the batches that wait.
    CHECK(h.count(publish_kind::urgent) == 3);
    CHECK(h.count(publish_kind::batch) == 1);
    for (int round = 0; round < 10; ++round) h.puback_all();
    std::size_t batches = 0;
    for (const auto& p : h.published) batches += p.kind == publish_kind::batch ? 1 : 0;
    CHECK(batches >= 10);

    // A window of one: they take turns.
    auto s = engine_settings();
    s.cloud.window = 1;
    harness one(s);
    for (int i = 0; i < 10; ++i)
        one.engine.queue_urgent({"fogbridge/gw/health", std::to_string(i), retain::no,
                                 urgent_kind::alert, "d" + std::to_string(i)});
    for (int i = 0; i < 10; ++i) one.add_live("b" + std::to_string(i), 10);
    one.connect();
    for (int round = 0; round < 12; ++round) one.puback_all();
    std::string order;
    for (const auto& p : one.published)
        if (p.kind != publish_kind::status) order += p.kind == publish_kind::batch ? 'b' : 'u';
    CHECK(order.substr(0, 12) == "ubububububub");
}

TEST_CASE("uplink engine: wall-clock steps of -1 h and +1 h change no timer") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("a", 3);
    h.clock.step_wall(-3600);
    h.run();
    h.advance(0.5);
    CHECK(h.count(publish_kind::batch) == 0);
    h.advance(0.6);  // due by its monotonic age, not held back an hour
    CHECK(h.count(publish_kind::batch) == 1);
    h.clock.step_wall(+7200);
    h.run();
    CHECK(h.disconnects == 0);  // no PUBACK deadline moved
    h.advance(1.5);
    CHECK(h.disconnects == 0);
    h.puback_all();
    h.add_live("b", 3);  // stored at the stepped wall time
    h.advance(0.5);
    CHECK(h.count(publish_kind::batch) == 0);
    h.advance(0.6);
    CHECK(h.count(publish_kind::batch) == 1);
    CHECK(h.connects == 1);
}

TEST_CASE("uplink engine: a drain sends only urgent messages, then says offline") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("b", 10);
    h.engine.request_drain(h.clock.now().mono + std::chrono::seconds(5));
    h.engine.queue_urgent(
        {"fogbridge/gw/health", "stopping", retain::yes, urgent_kind::report, ""});
    h.run();
    CHECK(h.count(publish_kind::batch) == 0);
    CHECK(h.count(publish_kind::urgent) == 1);
    CHECK_FALSE(h.finished);
    h.puback_all();
    REQUIRE(h.finished);
    CHECK(h.finished->say_offline);
}

TEST_CASE("uplink engine: a broker without retained messages gets none") {
    harness h;
    h.engine.queue_urgent({"fogbridge/gw/health", "{}", retain::yes, urgent_kind::report, ""});
    h.connect(broker_limits{0, 0, false, 0});
    REQUIRE(h.published.size() == 2);
    CHECK(h.published[0].retain == retain::no);  // online
    CHECK(h.published[1].retain == retain::no);  // health
    h.engine.request_drain(h.clock.now().mono);
    h.run();
    REQUIRE(h.finished);
    CHECK(h.finished->retain == retain::no);
}

TEST_CASE("uplink engine: a publish libmosquitto refuses waits at the head of its lane") {
    harness h;
    h.connect();
    h.puback_all();
    h.add_live("x", 10);
    h.refuse_publish = true;
    h.run();
    CHECK(h.in_flight.empty());
    h.refuse_publish = false;
    h.advance(0.01);
    REQUIRE(h.in_flight.size() == 1);
    CHECK(h.in_flight.begin()->second.batch_id == "x");
}

TEST_CASE("uplink engine: publishes keep to cloud.publish_rate") {
    auto s = engine_settings();
    s.cloud.window = 100;
    s.cloud.publish_rate = 4;  // a bucket of 4, refilled at 4 a second
    harness h(s);
    for (int i = 0; i < 20; ++i)
        h.engine.queue_urgent({"fogbridge/gw/alerts", "{}", retain::no, urgent_kind::alert, "d1"});
    h.connect();
    CHECK(h.published.size() == 4);  // the status and 3 alerts
    REQUIRE(h.engine.next_deadline().has_value());
    CHECK(*h.engine.next_deadline() <= h.clock.now().mono + mono_seconds(0.25));
    h.advance(0.25);
    CHECK(h.published.size() == 5);
    h.advance(1.0);
    CHECK(h.published.size() == 9);
}
