// The whole accounting, simulated: random streams with random filtering, out-of-order arrival,
// limits that drop, TTL, refused commits, lost PUBACKs, reconnects that start a backlog lane, and
// restarts. At the end the cloud's view
// (batches and gap records) must put every seq in exactly one of carried, filtered or dropped,
// and agree with what really happened.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "batch/batch.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using fogbridge::commit_set;
using fogbridge::drop_counts;
using fogbridge::drop_reason;
using fogbridge::gap_lease;
using fogbridge::gap_record;
using fogbridge::lease;
using fogbridge::lease_lane;
using fogbridge::store;
using fogbridge::store_error;
using fogbridge::store_policy;
using fogbridge::store_settings;

namespace {

class temp_dir {
  public:
    // On tmpfs where there is one: hundreds of stores are made, and each fsyncs when created.
    temp_dir() {
        std::error_code ec;
        const fs::path base =
            fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
        std::string pattern = (base / "fogbridge-acct-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    fs::path db() const { return path_ / "store.db"; }

  private:
    fs::path path_;
};

using series_key = std::pair<std::string, std::uint64_t>;

// One (device, boot) sending seqs 1..n, some out of order.
struct device_stream {
    series_key key;
    std::vector<std::uint64_t> order;  // arrival order
    std::size_t next = 0;
    std::set<std::uint64_t> arrived;
    std::uint64_t processed = 0;       // highest contiguous seq arrived
    std::set<std::uint64_t> kept;      // kept by the "filter" and committed
    std::set<std::uint64_t> filtered;  // all others

    bool done() const { return next == order.size(); }
};

class random_source {
  public:
    explicit random_source(std::uint64_t seed) : gen_(seed) {}
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) {
        return std::uniform_int_distribution<std::uint64_t>(lo, hi)(gen_);
    }
    double real(double lo, double hi) {
        return std::uniform_real_distribution<double>(lo, hi)(gen_);
    }

  private:
    std::mt19937_64 gen_;
};

// What the cloud received: every batch and gap message, once per id (re-sends must be identical).
struct cloud {
    std::map<std::string, lease> batches;
    std::map<std::string, gap_lease> gaps;

    void receive(const lease& l) {
        const auto [it, fresh] = batches.emplace(l.batch_id, l);
        if (!fresh) {
            CHECK(it->second == l);
        }
    }
    void receive(const gap_lease& g) {
        const auto [it, fresh] = gaps.emplace(g.gap_id, g);
        if (!fresh) {
            CHECK(it->second == g);
        }
    }
};

struct simulation {
    store_settings settings = [] {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        return out;
    }();
    std::uint64_t free = 1'000'000;
    std::unique_ptr<store> s;
    std::vector<device_stream> streams;
    std::optional<commit_set> refused;  // a group the store refused: the devices still hold it
    std::vector<std::pair<series_key, std::uint64_t>> refused_kept;
    cloud received;
    double now = 1000.0;
    random_source rnd;
    bool lanes = false;  // reconnects start a backlog; leases come from either lane

    explicit simulation(std::uint64_t seed) : rnd(seed) {}

    void open() {
        s.reset();
        s = std::make_unique<store>(settings);
    }

    void make_streams() {
        const std::vector<series_key> keys{{"a", 1}, {"a", 2}, {"b", 5}, {"c", 1}};
        for (const series_key& key : keys) {
            device_stream d;
            d.key = key;
            const std::uint64_t n = rnd.between(40, 110);
            for (std::uint64_t i = 1; i <= n; ++i) {
                d.order.push_back(i);
            }
            for (std::size_t i = 0; i + 1 < d.order.size(); ++i) {
                if (rnd.chance(0.15)) {
                    std::swap(d.order[i],
                              d.order[std::min(d.order.size() - 1, i + rnd.between(1, 3))]);
                }
            }
            streams.push_back(std::move(d));
        }
    }

    // A group of arrivals from random devices, kept with probability 0.35.
    void make_group() {
        commit_set set;
        set.now = now;
        refused_kept.clear();
        std::map<series_key, std::uint64_t> marks;
        const std::uint64_t k = rnd.between(1, 8);
        for (std::uint64_t i = 0; i < k; ++i) {
            std::vector<device_stream*> open_streams;
            for (device_stream& d : streams) {
                if (!d.done()) {
                    open_streams.push_back(&d);
                }
            }
            if (open_streams.empty()) {
                break;
            }
            device_stream& d = *open_streams[rnd.between(0, open_streams.size() - 1)];
            const std::uint64_t seq = d.order[d.next++];
            d.arrived.insert(seq);
            while (d.arrived.contains(d.processed + 1)) {
                ++d.processed;
            }
            if (rnd.chance(0.35)) {
                set.readings.push_back({d.key.first, "t", static_cast<double>(seq), "C",
                                        static_cast<double>(seq), d.key.second, seq});
                refused_kept.emplace_back(d.key, seq);
            } else {
                d.filtered.insert(seq);
            }
            marks[d.key] = d.processed;
        }
        for (const auto& [key, processed] : marks) {
            set.progress.push_back({key.first, key.second, processed});
        }
        if (!set.readings.empty() || !set.progress.empty()) {
            refused = std::move(set);
        }
    }

    device_stream& stream(const series_key& key) {
        return *std::find_if(streams.begin(), streams.end(),
                             [&](const device_stream& d) { return d.key == key; });
    }

    void try_commit() {
        if (!refused) {
            return;
        }
        try {
            s->commit(*refused);
        } catch (const store_error& e) {
            CHECK(e.code() == fogbridge::store_errc::full);
            return;  // not acknowledged: retried later
        }
        for (const auto& [key, seq] : refused_kept) {
            stream(key).kept.insert(seq);
        }
        refused.reset();
    }

    void send_batches(double p_received, double p_acked) {
        while (rnd.chance(0.6)) {
            const auto lane = lanes && rnd.chance(0.5) ? lease_lane::backlog : lease_lane::live;
            const auto l = s->lease_batch(rnd.between(1, 6), 1'000'000, now, lane);
            if (!l) {
                break;
            }
            if (rnd.chance(p_received)) {
                received.receive(*l);
                if (rnd.chance(p_acked)) {
                    CHECK(s->ack_batch(l->batch_id));
                }
            }
        }
        if (rnd.chance(0.3)) {
            if (const auto g = s->lease_gaps(rnd.between(1, 3), now)) {
                if (rnd.chance(p_received)) {
                    received.receive(*g);
                    if (rnd.chance(p_acked)) {
                        CHECK(s->ack_gaps(g->gap_id));
                    }
                }
            }
        }
    }

    // A new connection: everything leased is sent again with the same ids.
    void reconnect(double p_acked) {
        for (const lease& l : s->leased_batches()) {
            received.receive(l);
            if (rnd.chance(p_acked)) {
                CHECK(s->ack_batch(l.batch_id));
            }
        }
        for (const gap_lease& g : s->leased_gaps()) {
            received.receive(g);
            if (rnd.chance(p_acked)) {
                CHECK(s->ack_gaps(g.gap_id));
            }
        }
        if (lanes) {
            const auto st = s->stats();
            CHECK(s->start_backlog() == st.pending_readings);
        }
    }

    void restart() {
        const auto before = s->stats();
        open();
        const auto after = s->stats();
        CHECK(after.pending_readings == before.pending_readings);
        CHECK(after.pending_bytes == before.pending_bytes);
        CHECK(after.backlog_readings == before.backlog_readings);
        CHECK(after.backlog_bytes == before.backlog_bytes);
        CHECK(after.oldest_live == before.oldest_live);
        CHECK(after.leased_readings == before.leased_readings);
        CHECK(after.leased_bytes == before.leased_bytes);
        CHECK(after.leased_batches == before.leased_batches);
        CHECK(after.uncovered == before.uncovered);
        CHECK(after.gap_records == before.gap_records);
        CHECK(after.leased_gap_messages == before.leased_gap_messages);
        CHECK(after.drops_total == before.drops_total);
        CHECK(after.oldest_pending == before.oldest_pending);
        CHECK(after.oldest_gap == before.oldest_gap);
    }

    bool arrivals_left() const {
        return std::any_of(streams.begin(), streams.end(),
                           [](const device_stream& d) { return !d.done(); });
    }

    void run() {
        settings.disk_free = [this] { return std::optional<std::uint64_t>(free); };
        open();
        make_streams();
        while (arrivals_left() || refused) {
            now += rnd.real(0, 1.5);
            free = rnd.chance(0.1) ? 500 : 1'000'000;
            if (!refused) {
                make_group();
            }
            try_commit();
            if (rnd.chance(0.4)) {
                send_batches(0.85, 0.8);
            }
            if (rnd.chance(0.05)) {
                reconnect(0.7);
            }
            if (rnd.chance(0.3)) {
                s->expire(now);
            }
            if (rnd.chance(0.02)) {
                restart();
            }
        }
        drain();
    }

    // The outage is over: everything goes out and is acknowledged.
    void drain() {
        free = 1'000'000;
        for (int round = 0; round < 100; ++round) {
            now += 1;
            reconnect(1.0);
            for (;;) {
                auto l = s->lease_batch(50, 1'000'000, now, lease_lane::live);
                if (!l) {
                    l = s->lease_batch(50, 1'000'000, now, lease_lane::backlog);
                }
                if (!l) {
                    break;
                }
                received.receive(*l);
                CHECK(s->ack_batch(l->batch_id));
            }
            while (const auto g = s->lease_gaps(50, now)) {
                received.receive(*g);
                CHECK(s->ack_gaps(g->gap_id));
            }
            const auto st = s->stats();
            if (st.held_readings == 0 && st.leased_batches == 0 && st.gap_records == 0 &&
                st.leased_gap_messages == 0 && !st.uncovered) {
                return;
            }
        }
        FAIL("the store did not drain");
    }
};

bool in_any(const std::vector<fogbridge::seq_run>& runs, std::uint64_t seq) {
    return std::any_of(runs.begin(), runs.end(),
                       [seq](const auto& r) { return r.first <= seq && seq <= r.last; });
}

// The cloud's side: classifies every seq from batches and gap records alone, and compares with
// what the simulation knows happened.
drop_counts audit(const simulation& sim) {
    drop_counts from_gaps;
    for (const device_stream& d : sim.streams) {
        std::map<std::uint64_t, int> carried;
        std::vector<fogbridge::seq_run> ranges;
        for (const auto& [id, l] : sim.received.batches) {
            for (const auto& sr : l.readings) {
                if (series_key{sr.r.device, sr.r.boot} != d.key) {
                    continue;
                }
                ++carried[sr.r.seq];
                bool in_own_ranges = false;
                for (const auto& r : l.ranges) {
                    in_own_ranges = in_own_ranges || (series_key{r.device, r.boot} == d.key &&
                                                      r.first <= sr.r.seq && sr.r.seq <= r.last);
                }
                CHECK(in_own_ranges);
            }
            for (const auto& r : l.ranges) {
                if (series_key{r.device, r.boot} == d.key) {
                    ranges.push_back({r.first, r.last});
                }
            }
        }
        std::map<std::uint64_t, int> dropped;
        std::vector<fogbridge::seq_run> spans;
        for (const auto& [id, g] : sim.received.gaps) {
            for (const gap_record& rec : g.records) {
                if (series_key{rec.device, rec.boot} != d.key) {
                    continue;
                }
                REQUIRE_FALSE(rec.dropped.empty());
                CHECK(rec.first == rec.dropped.front().first);
                CHECK(rec.last == rec.dropped.back().last);
                std::uint64_t count = 0;
                for (std::size_t i = 0; i < rec.dropped.size(); ++i) {
                    const auto& r = rec.dropped[i];
                    CHECK(r.first <= r.last);
                    if (i > 0) {
                        CHECK(rec.dropped[i - 1].last + 1 < r.first);  // maximal runs
                    }
                    count += r.last - r.first + 1;
                    for (std::uint64_t q = r.first; q <= r.last; ++q) {
                        ++dropped[q];
                    }
                }
                CHECK(rec.count == count);
                from_gaps[rec.reason] += count;
                for (const auto& other : spans) {  // records of one series never overlap
                    CHECK((rec.last < other.first || other.last < rec.first));
                }
                spans.push_back({rec.first, rec.last});
            }
        }
        const std::uint64_t n = d.order.size();
        for (std::uint64_t q = 1; q <= n; ++q) {
            CAPTURE(d.key.first);
            CAPTURE(d.key.second);
            CAPTURE(q);
            const int c = carried.contains(q) ? carried[q] : 0;
            const int x = dropped.contains(q) ? dropped[q] : 0;
            CHECK(c <= 1);
            CHECK(x <= 1);
            CHECK_FALSE((c > 0 && x > 0));
            if (x > 0) {
                CHECK_FALSE(in_any(ranges, q));  // no batch claims a dropped seq
            }
            const bool filtered = c == 0 && x == 0 && (in_any(ranges, q) || in_any(spans, q));
            CHECK((c > 0 || x > 0 || filtered));  // nothing missing
            if (d.kept.contains(q)) {
                CHECK((c > 0 || x > 0));
            } else {
                CHECK(d.filtered.count(q) == 1);
                CHECK(filtered);
            }
        }
    }
    return from_gaps;
}

}  // namespace

namespace {

void run_seeds(bool lanes) {
    drop_counts all;
    std::size_t batches = 0;
    std::size_t replays = 0;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        CAPTURE(seed);
        const temp_dir dir;
        simulation sim(seed);
        sim.lanes = lanes;
        sim.settings.path = dir.db();
        sim.settings.synchronous = fogbridge::sync_mode::normal;
        random_source pick(seed * 7919);
        sim.settings.max_rows = std::vector<std::uint64_t>{0, 8, 15, 30}[pick.between(0, 3)];
        sim.settings.max_bytes = pick.chance(0.3) ? 1'000 : 0;
        sim.settings.ttl_s = std::vector<double>{0, 4, 10}[pick.between(0, 2)];
        sim.settings.min_free_bytes = pick.chance(0.5) ? 1'000 : 0;
        sim.settings.policy =
            pick.chance(0.25) ? store_policy::reject_new : store_policy::drop_oldest;
        sim.run();
        const drop_counts from_gaps = audit(sim);
        const auto st = sim.s->stats();
        CHECK(st.drops_total == from_gaps);  // the counters agree with the gap records
        all.store_full_bytes += from_gaps.store_full_bytes;
        all.store_full_rows += from_gaps.store_full_rows;
        all.disk_low += from_gaps.disk_low;
        all.ttl += from_gaps.ttl;
        batches += sim.received.batches.size();
        for (const auto& [id, l] : sim.received.batches) {
            replays += l.replay ? 1 : 0;
        }
    }
    MESSAGE(fmt::format("dropped: {} bytes, {} rows, {} disk, {} ttl; {} batches, {} replay",
                        all.store_full_bytes, all.store_full_rows, all.disk_low, all.ttl, batches,
                        replays));
    CHECK((replays > 0) == lanes);
    // The seeds exercise every reason.
    CHECK(all.store_full_bytes > 0);
    CHECK(all.store_full_rows > 0);
    CHECK(all.disk_low > 0);
    CHECK(all.ttl > 0);
}

}  // namespace

TEST_CASE("accounting: every seq is carried, filtered or dropped, exactly once") {
    run_seeds(false);
}

TEST_CASE("accounting: the same with a backlog lane started at every reconnect") {
    run_seeds(true);
}
