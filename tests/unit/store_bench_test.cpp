// Commit throughput of the store; skipped by default (a benchmark measures, it does not assert).
// Run: build/dev/tests/fogbridge_unit_tests -ts="store bench" --no-skip
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <string>

#include "batch/batch.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using fogbridge::commit_set;
using fogbridge::store;
using fogbridge::store_settings;
using fogbridge::sync_mode;

namespace {

class bench_dir {
  public:
    bench_dir() {
        std::string pattern = (fs::temp_directory_path() / "fogbridge-bench-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~bench_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    bench_dir(const bench_dir&) = delete;
    bench_dir& operator=(const bench_dir&) = delete;

    fs::path db() const { return path_ / "store.db"; }

  private:
    fs::path path_;
};

constexpr std::uint64_t devices = 10;
constexpr std::uint64_t per_device = 100;  // 1,000 readings per commit

// One group commit: `per_device` readings of each device; every `step`-th seq is kept (the
// others count as filtered), as a filter would leave them.
commit_set group(std::uint64_t round, std::uint64_t step, double now) {
    commit_set set;
    set.now = now;
    for (std::uint64_t d = 0; d < devices; ++d) {
        const std::string device = fmt::format("device-{:02}", d);
        for (std::uint64_t k = 1; k <= per_device; ++k) {
            const std::uint64_t seq = (round * per_device + k) * step;
            set.readings.push_back({device, "temperature", 20.0 + static_cast<double>(k % 7) / 10,
                                    "C", 1.7e9 + static_cast<double>(seq), 1, seq});
        }
        set.progress.push_back({device, 1, (round + 1) * per_device * step});
    }
    return set;
}

struct figures {
    double commit_rate = 0;  // readings per second of commit time
    double total_rate = 0;   // readings per second including lease and ack
};

using bench_clock = std::chrono::steady_clock;

double seconds_since(bench_clock::time_point t) {
    return std::chrono::duration<double>(bench_clock::now() - t).count();
}

// Commits `rounds` groups; with `drain`, leases and acknowledges after every commit.
figures run(store& s, std::uint64_t first_round, std::uint64_t rounds, bool drain,
            std::uint64_t step) {
    double commit_s = 0;
    const auto start = bench_clock::now();
    for (std::uint64_t r = first_round; r < first_round + rounds; ++r) {
        const commit_set set = group(r, step, static_cast<double>(r));
        const auto t = bench_clock::now();
        s.commit(set);
        commit_s += seconds_since(t);
        if (drain) {
            while (const auto l = s.lease_batch(1000, 1'000'000'000, static_cast<double>(r))) {
                s.ack_batch(l->batch_id);
            }
        }
    }
    const auto n = static_cast<double>(rounds * devices * per_device);
    return {n / commit_s, n / seconds_since(start)};
}

void print(const char* what, sync_mode mode, const figures& f) {
    MESSAGE(fmt::format("{:<44} {:<6} commit {:>7.0f} readings/s, with lease+ack {:>7.0f}", what,
                        mode == sync_mode::full ? "FULL" : "NORMAL", f.commit_rate, f.total_rate));
}

}  // namespace

TEST_CASE("store bench: 1,000-reading commits, drained" * doctest::skip()) {
    for (const sync_mode mode : {sync_mode::full, sync_mode::normal}) {
        const bench_dir dir;
        store_settings settings;
        settings.reading_size = fogbridge::encoded_size;
        settings.path = dir.db();
        settings.synchronous = mode;
        store s(settings);
        run(s, 0, 20, true, 1);  // warm up
        print("1,000-reading commits, drained", mode, run(s, 20, 200, true, 1));
    }
}

TEST_CASE("store bench: limits set, not reached" * doctest::skip()) {
    for (const sync_mode mode : {sync_mode::full, sync_mode::normal}) {
        const bench_dir dir;
        store_settings settings;
        settings.reading_size = fogbridge::encoded_size;
        settings.path = dir.db();
        settings.synchronous = mode;
        settings.max_rows = 1'000'000;
        settings.max_bytes = 1'000'000'000;
        settings.min_free_bytes = 1'000'000;
        settings.ttl_s = 1e6;
        store s(settings);
        run(s, 0, 20, true, 1);
        print("limits set, not reached, drained", mode, run(s, 20, 200, true, 1));
    }
}

TEST_CASE("store bench: max_rows reached, every commit drops 1,000" * doctest::skip()) {
    for (const std::uint64_t step : {std::uint64_t{1}, std::uint64_t{10}}) {
        for (const sync_mode mode : {sync_mode::full, sync_mode::normal}) {
            const bench_dir dir;
            store_settings settings;
            settings.reading_size = fogbridge::encoded_size;
            settings.path = dir.db();
            settings.synchronous = mode;
            settings.max_rows = 20'000;
            store s(settings);
            run(s, 0, 40, false, step);  // fills the store, then drops
            const figures f = run(s, 40, 200, false, step);
            REQUIRE(s.stats().drops.store_full_rows == 220'000);
            print(step == 1 ? "max_rows reached, dropping 1,000 per commit"
                            : "the same, every 10th seq kept (sparse gaps)",
                  mode, f);
            MESSAGE(fmt::format("  gap records: {}", s.stats().gap_records));
        }
    }
}

// The uplink's side of a backlog drain: 1,000-reading batches leased and acknowledged one after
// the other, as the uplink does when the cloud comes back after an outage.
TEST_CASE("store bench: backlog drain, lease+ack per batch" * doctest::skip()) {
    for (const sync_mode mode : {sync_mode::full, sync_mode::normal}) {
        const bench_dir dir;
        store_settings settings;
        settings.reading_size = fogbridge::encoded_size;
        settings.path = dir.db();
        settings.synchronous = mode;
        store s(settings);
        run(s, 0, 200, false, 1);  // 200,000 readings stored while the cloud was away
        s.start_backlog();
        const auto start = bench_clock::now();
        std::size_t batches = 0;
        while (const auto l =
                   s.lease_batch(1000, 1'000'000'000, 1.0, fogbridge::lease_lane::backlog)) {
            s.ack_batch(l->batch_id);
            ++batches;
        }
        const double elapsed = seconds_since(start);
        MESSAGE(fmt::format(
            "{:<44} {:<6} {:>5.0f} batches/s, {:>7.0f} readings/s",
            "backlog drain, lease+ack per batch", mode == sync_mode::full ? "FULL" : "NORMAL",
            static_cast<double>(batches) / elapsed, static_cast<double>(batches) * 1000 / elapsed));
    }
}
