// A fake store and link around uplink_engine for its unit tests: carries out every action the
// engine asks for at the manual clock's time, with no sockets and no SQLite. Not thread-safe.
#pragma once

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.hpp"
#include "uplink/uplink_engine.hpp"

namespace fogbridge::test {

inline lease make_lease(std::string id, std::size_t readings, bool replay = false) {
    lease l;
    l.batch_id = std::move(id);
    l.readings.resize(readings);
    for (std::size_t i = 0; i < readings; ++i) {
        l.readings[i].r.device = "d1";
        l.readings[i].r.seq = i;
    }
    l.replay = replay;
    return l;
}

inline uplink_settings engine_settings() {
    uplink_settings s;
    s.gateway_id = "gw";
    s.cloud.window = 4;
    s.cloud.puback_timeout = 2;
    s.cloud.connect_timeout = 3;
    s.cloud.reconnect_min = 0.5;
    s.cloud.reconnect_max = 8;
    s.batch.max_readings = 10;
    s.batch.max_delay = 1;
    return s;
}

struct harness {
    explicit harness(uplink_settings s = engine_settings())
        : engine(std::move(s), 42, clock.now()) {}

    manual_clock clock;
    uplink_engine engine;
    queue_stats stats;
    std::deque<lease> live, backlog;          // what lease_batch hands out, per lane
    std::vector<lease> leased_on_resume;      // what the store says is leased after a connect
    std::deque<gap_lease> gaps;               // what lease_gaps hands out
    std::map<int, publish_action> in_flight;  // by message id, until acknowledged
    std::vector<publish_action> published;
    std::vector<std::string> acked_ids;
    std::vector<std::string> acked_gaps;
    std::vector<lease_batch_action> lease_asks;
    int connects = 0;
    int disconnects = 0;
    bool refuse_publish = false;
    bool link_up = false;
    std::optional<finished_action> finished;
    int next_mid = 1;

    // Carries out actions until the engine has none.
    void run() {
        for (int guard = 0; guard < 10000; ++guard) {
            auto a = engine.next_action(clock.now(), stats);
            if (!a) return;
            std::visit([this](auto& x) { carry_out(x); }, *a);
        }
        FAIL("the engine never runs out of actions");
    }
    void advance(double s) {
        clock.advance(s);
        run();
    }
    void connect(broker_limits limits = {}) {
        run();
        REQUIRE(link_up);
        engine.on_connected(limits, clock.now());
        run();
    }
    void puback(int mid, int reason = 0) {
        engine.on_puback({.mid = mid, .reason_code = reason}, clock.now());
        in_flight.erase(mid);
        run();
    }
    // Acknowledges every message in flight.
    void puback_all() {
        const auto copy = in_flight;
        for (const auto& [mid, p] : copy) engine.on_puback({.mid = mid}, clock.now());
        in_flight.clear();
        run();
    }
    std::size_t count(publish_kind k) const {
        std::size_t n = 0;
        for (const auto& [mid, p] : in_flight) n += p.kind == k ? 1 : 0;
        return n;
    }
    void add_live(std::string id, std::size_t n) {
        live.push_back(make_lease(std::move(id), n));
        stats.pending_readings += n;
        if (!stats.oldest_live) stats.oldest_live = clock.now().wall;
    }
    void add_backlog(std::string id, std::size_t n) {
        backlog.push_back(make_lease(std::move(id), n, true));
        stats.pending_readings += n;
        stats.backlog_readings += n;
    }

  private:
    void carry_out(const publish_action& p) {
        if (refuse_publish || !link_up) {
            engine.on_published(std::nullopt, clock.now());
            return;
        }
        published.push_back(p);
        in_flight.emplace(next_mid, p);
        engine.on_published(next_mid++, clock.now());
    }
    void carry_out(const connect_action&) {
        ++connects;
        link_up = true;
    }
    void carry_out(const disconnect_action&) {
        ++disconnects;
        link_up = false;
        in_flight.clear();
    }
    void carry_out(const lease_batch_action& a) {
        lease_asks.push_back(a);
        auto& q = a.lane == lease_lane::live ? live : backlog;
        if (q.empty()) {
            engine.on_batch_leased(std::nullopt, clock.now());
            return;
        }
        lease l = std::move(q.front());
        q.pop_front();
        stats.pending_readings -= l.readings.size();
        if (a.lane == lease_lane::backlog) stats.backlog_readings -= l.readings.size();
        if (stats.pending_readings == stats.backlog_readings) stats.oldest_live.reset();
        engine.on_batch_leased(std::move(l), clock.now());
    }
    void carry_out(const lease_gaps_action&) {
        if (gaps.empty()) {
            engine.on_gaps_leased(std::nullopt, clock.now());
            return;
        }
        gap_lease g = std::move(gaps.front());
        gaps.pop_front();
        stats.gap_records = 0;
        stats.oldest_gap.reset();
        engine.on_gaps_leased(std::move(g), clock.now());
    }
    void carry_out(const resume_action&) {
        engine.on_resume(leased_on_resume, {}, stats.backlog_readings, clock.now());
    }
    void carry_out(const ack_batches_action& a) {
        acked_ids.insert(acked_ids.end(), a.batch_ids.begin(), a.batch_ids.end());
    }
    void carry_out(const ack_gaps_action& a) { acked_gaps.push_back(a.gap_id); }
    void carry_out(const finished_action& a) {
        finished = a;
        link_up = false;
    }
};

}  // namespace fogbridge::test
