#include <doctest/doctest.h>

#include <string>

#include "ops/stall_watch.hpp"

using fogbridge::stage_sample;
using fogbridge::stall_watch;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1000h;

// A gateway going round its loops with nothing to do, at t0 + at.
stage_sample quiet(std::chrono::steady_clock::duration at) {
    stage_sample s;
    s.now = t0 + at;
    s.ingest_loop = s.now - 500ms;
    return s;
}

}  // namespace

TEST_CASE("stall watch: a quiet site stays healthy however long it is quiet") {
    stall_watch w(60s);
    for (auto at = 0s; at < 24h; at += 1h) CHECK(w.problem(quiet(at)).empty());
}

TEST_CASE("stall watch: a pipeline with messages waiting and no progress is stuck") {
    stall_watch w(60s);
    auto s = quiet(0s);
    s.pipeline_queued = 10;
    s.pipeline_done = 5;
    CHECK(w.problem(s).empty());
    s = quiet(59s);
    s.pipeline_queued = 10;
    s.pipeline_done = 5;
    CHECK(w.problem(s).empty());
    s.now = t0 + 61s;
    s.ingest_loop = s.now;
    CHECK(w.problem(s) == "pipeline stuck: 10 message(s) waiting and none processed for 61 s");
    // Progress clears it at once.
    s.pipeline_done = 6;
    CHECK(w.problem(s).empty());
}

TEST_CASE("stall watch: busy and progressing, or idle in between, is healthy") {
    stall_watch w(60s);
    for (int i = 0; i < 100; ++i) {
        auto s = quiet(std::chrono::seconds(30 * i));
        s.pipeline_queued = 1000;  // always busy, always moving
        s.pipeline_done = static_cast<std::uint64_t>(i);
        s.uplink_in_flight = i % 2 == 0 ? 8 : 0;  // in flight, then all acknowledged
        s.uplink_acked = 0;
        CHECK(w.problem(s).empty());
    }
}

TEST_CASE("stall watch: an uplink holding batches without a PUBACK is stuck") {
    stall_watch w(60s);
    auto s = quiet(0s);
    s.uplink_in_flight = 3;
    s.uplink_acked = 40;
    CHECK(w.problem(s).empty());
    s = quiet(120s);
    s.uplink_in_flight = 3;
    s.uplink_acked = 40;
    CHECK(w.problem(s) == "uplink stuck: 3 batch(es) unacknowledged and no PUBACK for 120 s");
}

TEST_CASE("stall watch: an ingest thread that stopped looping is stuck; not started is not") {
    stall_watch w(60s);
    auto s = quiet(0s);
    s.ingest_loop = {};
    CHECK(w.problem(s).empty());
    s.ingest_loop = s.now - 90s;
    CHECK(w.problem(s) == "ingest stuck: its thread has not gone round its loop for 90 s");
}

TEST_CASE("stall watch: the local link's verdict comes first; 0 turns the rules off") {
    stall_watch off(0s);
    auto s = quiet(0s);
    s.ingest_loop = s.now - 1h;
    CHECK(off.problem(s).empty());
    s.local_problem = "local broker: the broker refused 1 subscription(s)";
    CHECK(off.problem(s) == s.local_problem);
}
