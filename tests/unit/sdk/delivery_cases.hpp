// The delivery rules, as doctest templates over a harness H: the portable core's delivery
// (core_delivery_test.cpp, also on the Cortex-M) and the Linux SDK's delivery_session
// (shared_delivery_test.cpp) pass the same cases. H(settings, capacity) has a member d with
// accept(sensor index, value, ts_ms, up_ms), on_connected(ms), on_disconnected(),
// on_ack(boot, seq, ms), buffered(), last_seq(), in_flight(), next_deadline_ms(), counters();
// next(ms) returns the next payload ("" for none) and sets first/last. Boot 7; sensors 0
// temperature (C), 1 humidity (no unit).
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "fogbridge/core/delivery.hpp"

namespace dcore = fogbridge::core;

TEST_CASE_TEMPLATE_DEFINE("a reading carries boot, seq, ts and up", H, delivery_rule_1) {
    H s;
    CHECK(s.d.accept(0, 21.5, 1732630000123, 12345) == dcore::accept_result::queued);
    CHECK(s.d.accept(1, 40, 0, 12400) == dcore::accept_result::queued);
    s.d.on_connected(0);
    dcore::delivery_settings one;
    one.max_readings_per_message = 1;
    H t(one);
    t.d.accept(0, 21.5, 1732630000123, 12345);
    t.d.on_connected(0);
    CHECK(
        t.next(0) ==
        R"({"sensor":"temperature","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":1,"up":12.345})");
    CHECK(
        s.next(0) ==
        R"([{"sensor":"temperature","value":21.5,"unit":"C","ts":1732630000.123,"boot":7,"seq":1,"up":12.345},)"
        R"({"sensor":"humidity","value":40,"ts":0,"boot":7,"seq":2,"up":12.4}])");
    CHECK(s.first == 1);
    CHECK(s.last == 2);
}

TEST_CASE_TEMPLATE_DEFINE("seqs are contiguous: refused readings use none", H, delivery_rule_2) {
    H s({}, 2);
    CHECK(s.d.accept(0, 1, 0, 0) == dcore::accept_result::queued);
    CHECK(s.d.accept(5, 1, 0, 0) == dcore::accept_result::invalid);
    CHECK(s.d.accept(0, __builtin_nan(""), 0, 0) == dcore::accept_result::invalid);
    CHECK(s.d.accept(0, __builtin_inf(), 0, 0) == dcore::accept_result::invalid);
    CHECK(s.d.accept(0, 2, 0, 0) == dcore::accept_result::queued);
    CHECK(s.d.accept(0, 3, 0, 0) == dcore::accept_result::buffer_full);
    CHECK(s.d.last_seq() == 2);
    CHECK(s.d.counters().invalid == 3);
    CHECK(s.d.counters().buffer_full == 1);
}

TEST_CASE_TEMPLATE_DEFINE("an ack frees the buffer through its seq; others are ignored", H,
                          delivery_rule_3) {
    H s({}, 4);
    for (int i = 0; i < 4; ++i) {
        s.d.accept(0, i, 0, 0);
    }
    s.d.on_connected(0);
    CHECK_FALSE(s.next(0).empty());
    CHECK(s.d.on_ack(8, 2, 1) == dcore::ack_result::other_boot);
    CHECK(s.d.on_ack(7, 5, 1) == dcore::ack_result::out_of_range);
    CHECK(s.d.on_ack(7, 2, 1) == dcore::ack_result::progress);
    CHECK(s.d.buffered() == 2);
    CHECK(s.d.on_ack(7, 1, 1) == dcore::ack_result::duplicate);
    CHECK(s.d.accept(0, 9, 0, 0) == dcore::accept_result::queued);  // the ring wrapped
    CHECK(s.d.accept(0, 10, 0, 0) == dcore::accept_result::queued);
    CHECK(s.d.on_ack(7, 6, 2) == dcore::ack_result::progress);
    CHECK(s.d.buffered() == 0);
    CHECK(s.d.counters().acked == 6);
    CHECK(s.d.counters().ignored_acks == 2);
}

TEST_CASE_TEMPLATE_DEFINE("nothing goes out while disconnected; a reconnect re-sends in order", H,
                          delivery_rule_4) {
    dcore::delivery_settings one;
    one.max_readings_per_message = 1;
    H s(one);
    for (int i = 0; i < 3; ++i) {
        s.d.accept(0, i, 0, 0);
    }
    CHECK(s.next(0).empty());
    s.d.on_connected(0);
    s.next(0);
    s.next(0);
    CHECK(s.last == 2);
    s.d.on_ack(7, 1, 5);
    s.d.on_disconnected();
    CHECK(s.next(6).empty());
    s.d.on_connected(10);
    s.next(10);
    CHECK(s.first == 2);  // the unacknowledged one again first
    s.next(10);
    CHECK(s.first == 3);
    CHECK(s.d.counters().sent == 3);
    CHECK(s.d.counters().resent == 1);
}

TEST_CASE_TEMPLATE_DEFINE(
    "without ack progress for the resend timeout, sending starts again at the first unacked", H,
    delivery_rule_5) {
    dcore::delivery_settings st;
    st.resend_timeout_ms = 1000;
    st.max_readings_per_message = 2;
    H s(st);
    for (int i = 0; i < 4; ++i) {
        s.d.accept(0, i, 0, 0);
    }
    s.d.on_connected(0);
    s.next(0);
    s.next(0);
    CHECK(s.next(999).empty());
    CHECK(s.d.next_deadline_ms() == 1000);
    s.next(1000);
    CHECK(s.first == 1);
    CHECK(s.last == 2);
    s.next(1000);
    CHECK(s.last == 4);
    s.d.on_ack(7, 2, 1500);
    CHECK(s.next(2400).empty());  // 3..4 are in flight, the clock restarted at the ack
    s.next(2500);
    CHECK(s.first == 3);
}

TEST_CASE_TEMPLATE_DEFINE("the in-flight window and the byte limit bound a message", H,
                          delivery_rule_6) {
    dcore::delivery_settings st;
    st.max_in_flight = 3;
    st.max_readings_per_message = 10;
    st.max_message_bytes = 200;  // two readings of ~90 bytes
    H s(st);
    for (int i = 0; i < 6; ++i) {
        s.d.accept(0, i, 1732630000123, 1000);
    }
    s.d.on_connected(0);
    const std::string m = s.next(0);
    CHECK(m.size() < 200);
    CHECK(m.front() == '[');
    CHECK(s.last - s.first == 1);
    CHECK(s.next(0).front() == '{');  // the window leaves room for one: a bare object
    CHECK(s.d.in_flight() == 3);
    CHECK(s.next(0).empty());
    s.d.on_ack(7, 3, 1);
    CHECK_FALSE(s.next(1).empty());
    CHECK(s.first == 4);
}
