// Per-message PUBACK deadlines of the uplink's in-flight window, on a fake steady clock.
#include <doctest/doctest.h>

#include <string>

#include "uplink/in_flight.hpp"

using namespace fogbridge;
using namespace std::chrono_literals;
using window = in_flight_window<std::string>;

namespace {
const window::clock::time_point t0{100s};
}

TEST_CASE("in-flight window: a lost PUBACK is overdue although later ones keep coming") {
    window w(2s);
    w.add(1, "b1", t0);
    w.add(2, "b2", t0 + 500ms);
    // b2..b40 are acknowledged one after another; b1's PUBACK never comes.
    for (int mid = 3; mid <= 40; ++mid) {
        const auto now = t0 + mid * 100ms;
        CHECK(w.take(mid - 1, now));
        w.add(mid, "b" + std::to_string(mid), now);
        CHECK(w.overdue(now) == (now > t0 + 2s));
    }
    CHECK(w.overdue(t0 + 2001ms));
    CHECK(w.oldest_mid() == 1);
    CHECK(*w.find(1) == "b1");
    CHECK(w.oldest_age(t0 + 3s) == 3s);
    CHECK(w.next_deadline() == t0 + 2s);
}

TEST_CASE("in-flight window: exactly at the deadline is not overdue, just after is") {
    window w(2s);
    w.add(7, "x", t0);
    CHECK_FALSE(w.overdue(t0 + 2s));
    CHECK(w.overdue(t0 + 2s + 1ms));
}

TEST_CASE("in-flight window: each message has its own deadline") {
    window w(2s);
    w.add(1, "a", t0);
    w.add(2, "b", t0 + 1s);
    auto a = w.take(1, t0 + 1500ms);
    REQUIRE(a);
    CHECK(a->item == "a");
    CHECK(a->latency == 1500ms);
    // b was sent at t0+1s: its deadline is t0+3s, not two seconds after a's PUBACK.
    CHECK_FALSE(w.overdue(t0 + 3s));
    CHECK(w.overdue(t0 + 3001ms));
    CHECK(w.next_deadline() == t0 + 3s);
}

TEST_CASE("in-flight window: an unknown or already acknowledged id is ignored") {
    window w(2s);
    w.add(1, "a", t0);
    CHECK(w.take(1, t0 + 1s));
    CHECK_FALSE(w.take(1, t0 + 1s));
    CHECK_FALSE(w.take(99, t0 + 1s));
    CHECK(w.empty());
    CHECK_FALSE(w.overdue(t0 + 1h));
    CHECK_FALSE(w.oldest_age(t0 + 1h));
    CHECK_FALSE(w.next_deadline());
}

TEST_CASE("in-flight window: a reused id replaces the older send; clear() forgets all") {
    window w(2s);
    w.add(5, "old", t0);
    w.add(5, "new", t0 + 1s);
    CHECK(w.size() == 1);
    CHECK(w.oldest_sent() == t0 + 1s);
    CHECK_FALSE(w.overdue(t0 + 2500ms));
    w.add(6, "other", t0 + 2s);
    w.clear();
    CHECK(w.empty());
    CHECK_FALSE(w.oldest_sent());
}

TEST_CASE("in-flight window: a timeout of 0 turns the deadline off, ages are still kept") {
    window w(0s);
    w.add(1, "a", t0);
    CHECK_FALSE(w.overdue(t0 + 24h));
    CHECK_FALSE(w.next_deadline());
    CHECK(w.oldest_age(t0 + 5s) == 5s);
}
