#include "common/urgent_queue.hpp"

#include <doctest/doctest.h>

#include <string>

using fogbridge::urgent_kind;
using fogbridge::urgent_message;
using fogbridge::urgent_queue;

namespace {

urgent_message alert(int n) {
    return {"fogbridge/gw/alerts",
            "alert " + std::to_string(n),
            fogbridge::retain::no,
            urgent_kind::alert,
            {}};
}

urgent_message health(const std::string& device, int n) {
    return {"fogbridge/gw/devices/" + device + "/health",
            std::to_string(n),
            fogbridge::retain::no,
            urgent_kind::report,
            {}};
}

std::string pop_payload(urgent_queue& q) {
    const auto m = q.pop();
    REQUIRE(m.has_value());
    return m->payload;
}

}  // namespace

TEST_CASE("alerts go before any report, each lane in order") {
    urgent_queue q(10);
    q.push(health("a", 1));
    q.push(alert(1));
    q.push(health("b", 1));
    q.push(alert(2));
    CHECK(pop_payload(q) == "alert 1");
    CHECK(pop_payload(q) == "alert 2");
    CHECK(pop_payload(q) == "1");
    CHECK(pop_payload(q) == "1");
    CHECK_FALSE(q.pop().has_value());
    CHECK(q.empty());
}

TEST_CASE("a flood of health from many boards never drops or delays an alert") {
    urgent_queue q(100);
    q.push(alert(1));
    for (int i = 0; i < 10000; ++i) q.push(health("board-" + std::to_string(i), i));
    q.push(alert(2));
    CHECK(q.dropped(urgent_kind::alert) == 0);
    CHECK(q.dropped(urgent_kind::report) == 9900);
    CHECK(pop_payload(q) == "alert 1");
    CHECK(pop_payload(q) == "alert 2");
    CHECK(pop_payload(q) == "9900");  // the newest 100 reports remain
    CHECK(q.size() == 99);
}

TEST_CASE("a board flooding its own health holds one place: only its newest report waits") {
    urgent_queue q(10);
    q.push(health("other", 1));
    for (int i = 0; i < 1000; ++i) q.push(health("noisy", i));
    CHECK(q.size() == 2);
    CHECK(q.dropped(urgent_kind::report) == 0);
    CHECK(pop_payload(q) == "1");
    CHECK(pop_payload(q) == "999");
}

TEST_CASE("alerts are never replaced; a full alert lane drops its own oldest, counted") {
    urgent_queue q(3);
    for (int i = 1; i <= 5; ++i) q.push(alert(i));
    q.push(health("a", 1));
    CHECK(q.dropped(urgent_kind::alert) == 2);
    CHECK(q.dropped(urgent_kind::report) == 0);
    CHECK(pop_payload(q) == "alert 3");
    CHECK(pop_payload(q) == "alert 4");
    CHECK(pop_payload(q) == "alert 5");
    CHECK(pop_payload(q) == "1");
}

TEST_CASE("a full alert lane drops from the board holding the most, not from the others") {
    urgent_queue q(4);
    auto from = [](const std::string& board, int n) {
        auto m = alert(n);
        m.source = board;
        m.payload = board + " " + std::to_string(n);
        return m;
    };
    q.push(from("quiet", 1));
    for (int i = 1; i <= 50; ++i) q.push(from("noisy", i));
    q.push(from("other", 1));
    CHECK(q.dropped(urgent_kind::alert) == 48);
    // The quiet board's alert and the other board's stay; the noisy one keeps its newest.
    CHECK(pop_payload(q) == "quiet 1");
    CHECK(pop_payload(q) == "noisy 49");
    CHECK(pop_payload(q) == "noisy 50");
    CHECK(pop_payload(q) == "other 1");
    CHECK_FALSE(q.pop().has_value());
    // Counts follow pops and put-backs: a put-back alert is counted again.
    q.push(from("a", 1));
    auto m = q.pop();
    REQUIRE(m.has_value());
    q.push_front(std::move(*m));
    for (int i = 2; i <= 4; ++i) q.push(from("b", i));
    q.push(from("b", 5));  // full: b holds the most (3 against 1)
    CHECK(pop_payload(q) == "a 1");
}

TEST_CASE("a message that could not be sent goes back to the head of its lane") {
    urgent_queue q(10);
    q.push(alert(1));
    q.push(alert(2));
    auto first = q.pop();
    REQUIRE(first);
    q.push_front(std::move(*first));
    CHECK(pop_payload(q) == "alert 1");

    q.push(health("a", 1));
    auto report = q.pop();  // alert 2 first
    CHECK(report->payload == "alert 2");
    report = q.pop();
    REQUIRE(report);
    q.push(health("a", 2));  // a newer report came while the old one was out
    q.push_front(std::move(*report));
    CHECK(pop_payload(q) == "2");
    CHECK(q.empty());
}

TEST_CASE("retained gateway health is a report like device health") {
    urgent_queue q(10);
    q.push({"fogbridge/gw/health", "old", fogbridge::retain::yes, urgent_kind::report, {}});
    q.push({"fogbridge/gw/health", "new", fogbridge::retain::yes, urgent_kind::report, {}});
    const auto m = q.pop();
    REQUIRE(m);
    CHECK(m->payload == "new");
    CHECK(m->retain == fogbridge::retain::yes);
    CHECK(q.empty());
}
