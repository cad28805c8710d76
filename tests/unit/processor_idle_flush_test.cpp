// The processor's idle flush: a quiet swinging-door series does not hold readings back longer
// than its heartbeat, by the gateway's clock.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pipeline/processor.hpp"

using fogbridge::decode_settings;
using fogbridge::filter_mode;
using fogbridge::filter_rule;
using fogbridge::filter_settings;
using fogbridge::inbound_message;
using fogbridge::processor;

namespace {

constexpr double t0 = 1732630000.0;

std::string reading(int seq, double value, double ts) {
    return R"({"sensor":"t","value":)" + std::to_string(value) + R"(,"ts":)" + std::to_string(ts) +
           R"(,"boot":1,"seq":)" + std::to_string(seq) + "}";
}

processor door_processor(double heartbeat) {
    filter_settings f;
    f.default_rule = filter_rule{.name = "default",
                                 .mode = filter_mode::swinging_door,
                                 .heartbeat = heartbeat,
                                 .deviation = 0.5};
    return processor("gw-01", decode_settings{}, f);
}

// Readings 1 s apart on a straight line: the first is kept, the rest are held by the door.
void feed_line(processor& p, int count) {
    for (int i = 1; i <= count; ++i) {
        const double ts = t0 + i - 1;
        std::vector<inbound_message> group{{"devices/d1/readings", reading(i, i * 0.1, ts)}};
        const auto out = p.process(group, ts);
        CHECK(out.commit.readings.size() == (i == 1 ? 1U : 0U));
    }
}

}  // namespace

TEST_CASE("idle flush: held readings go out once the oldest has waited a heartbeat") {
    auto p = door_processor(60);
    feed_line(p, 5);  // held: seq 2..5, the oldest since t0 + 1
    CHECK(p.flush_idle(t0 + 30).commit.readings.empty());
    CHECK(p.flush_idle(t0 + 60.5).commit.readings.empty());
    const auto out = p.flush_idle(t0 + 61);
    // The best line from the anchor to the newest held reading keeps just that one.
    REQUIRE(out.commit.readings.size() == 1);
    CHECK(out.commit.readings[0].seq == 5U);
    REQUIRE(out.commit.filter_states.size() == 1);  // the closed segment is stored
    CHECK(p.counters().kept == 2);
    CHECK(p.counters().filtered == 3);
    // Nothing is held any more.
    CHECK(p.flush_idle(t0 + 1000).commit.readings.empty());
}

TEST_CASE("idle flush: never without a heartbeat") {
    auto p = door_processor(0);
    feed_line(p, 5);
    CHECK(p.flush_idle(t0 + 1e6).commit.readings.empty());
}
