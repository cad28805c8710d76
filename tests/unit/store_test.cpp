#include "store/store.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite.hpp"
#include "store_fixture.hpp"

using namespace store_fixture;

TEST_CASE("store: create and reopen keep data and epoch") {
    const temp_dir dir;
    std::string epoch;
    {
        store_settings defaults;  // synchronous=FULL
        defaults.reading_size = fogbridge::encoded_size;
        defaults.path = dir.db();
        store s(defaults);
        epoch = s.epoch();
        CHECK(epoch.size() == 16);
        auto set = readings_of({rd("d1", 7, 1), rd("d1", 7, 2)});
        set.progress.push_back({"d1", 7, 2});
        CHECK(s.commit(set).inserted == 2);
    }
    store s(dir.settings());
    CHECK(s.epoch() == epoch);
    CHECK(s.load_progress() == std::vector<fogbridge::progress_update>{{"d1", 7, 2}});
    const auto l = s.lease_batch(10, no_byte_limit, 60.0);
    REQUIRE(l);
    CHECK(l->readings.size() == 2);
    CHECK(l->readings[0].r == rd("d1", 7, 1));
    CHECK(l->readings[0].enqueued == 50.0);
}

TEST_CASE("store: a recreated store has a new epoch, so batch ids never repeat") {
    const temp_dir dir;
    std::string first_id;
    {
        store s(dir.settings());
        s.commit(readings_of({rd("d1", 1, 1)}));
        first_id = s.lease_batch(10, no_byte_limit, 1.0)->batch_id;
        CHECK(first_id == s.epoch() + "-1");
    }
    fs::remove(dir.db());
    store s(dir.settings());
    s.commit(readings_of({rd("d1", 1, 1)}));
    CHECK(s.lease_batch(10, no_byte_limit, 1.0)->batch_id != first_id);
}

TEST_CASE("store: an unknown schema version is refused with one clear line") {
    const temp_dir dir;
    { store s(dir.settings()); }
    {
        fogbridge::sqlite::database db(dir.db());
        db.exec("UPDATE meta SET value = 7 WHERE key = 'schema_version'");
    }
    const std::string expected =
        "store " + dir.db().string() + ": schema version 7 is newer than this gateway supports (4)";
    CHECK_THROWS_WITH_AS(store(dir.settings()), expected.c_str(), std::runtime_error);
}

TEST_CASE("store: a file that is not a store is refused, naming the path") {
    const temp_dir dir;
    SUBCASE("garbage") { std::ofstream(dir.db()) << std::string(8192, 'x'); }
    SUBCASE("another application's database") {
        fogbridge::sqlite::database db(dir.db());
        db.exec("CREATE TABLE other(x)");
    }
    try {
        store s(dir.settings());
        FAIL("opened");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        CHECK(what.rfind("store " + dir.db().string() + ": ", 0) == 0);
        CHECK(what.find('\n') == std::string::npos);
    }
}

TEST_CASE("store: commit is idempotent per (device, boot, seq)") {
    const temp_dir dir;
    store s(dir.settings());
    auto first = s.commit(readings_of({rd("d1", 7, 1), rd("d1", 7, 2), rd("d2", 7, 1)}));
    CHECK(first.inserted == 3);
    CHECK(first.duplicates == 0);
    // A re-send (even with another value) and a repeat inside one commit are stored once.
    auto again = s.commit(readings_of({rd("d1", 7, 2, 99.0), rd("d1", 8, 2), rd("d1", 8, 2)}));
    CHECK(again.inserted == 1);
    CHECK(again.duplicates == 2);
    CHECK(s.stats().pending_readings == 4);
    const auto l = s.lease_batch(10, no_byte_limit, 1.0);
    REQUIRE(l);
    REQUIRE(l->readings.size() == 4);
    CHECK(l->readings[1].r.value == 1.5);
}

TEST_CASE("store: progress only rises") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(progress_of("d1", 7, 10));
    s.commit(progress_of("d1", 7, 4));
    s.commit(progress_of("d2", 1, 3));
    auto set = progress_of("d1", 8, 2);
    set.progress.push_back({"d1", 8, 5});
    set.progress.push_back({"d1", 8, 1});
    s.commit(set);
    CHECK(s.load_progress() ==
          std::vector<fogbridge::progress_update>{{"d1", 7, 10}, {"d1", 8, 5}, {"d2", 1, 3}});
}

TEST_CASE("store: filter states round-trip and upsert") {
    const temp_dir dir;
    {
        store s(dir.settings());
        commit_set set;
        set.filter_states = {{"d1", "temp", R"({"last":21.5})"}, {"d1", "hum", "{}"}};
        s.commit(set);
        set.filter_states = {{"d1", "temp", R"({"last":22})"}};
        s.commit(set);
    }
    store s(dir.settings());
    CHECK(s.load_filter_states() == std::vector<fogbridge::filter_state_row>{
                                        {"d1", "hum", "{}"}, {"d1", "temp", R"({"last":22})"}});
}

TEST_CASE("store: stats after commit, lease, ack and reopen") {
    const temp_dir dir;
    const std::size_t size = fogbridge::encoded_size(rd("d1", 7, 1));
    std::string first_batch;
    {
        store s(dir.settings());
        auto st = s.stats();
        CHECK(st.pending_readings == 0);
        CHECK_FALSE(st.oldest_enqueued);
        CHECK_FALSE(st.uncovered);

        auto set = readings_of({rd("d1", 7, 1), rd("d1", 7, 2), rd("d1", 7, 3)}, 10.0);
        set.progress.push_back({"d1", 7, 4});
        s.commit(set);
        s.commit(readings_of({rd("d1", 7, 3)}, 11.0));  // duplicate: no change
        st = s.stats();
        CHECK(st.pending_readings == 3);
        CHECK(st.pending_bytes == 3 * size);
        CHECK(st.leased_batches == 0);
        CHECK(st.oldest_enqueued == 10.0);
        CHECK(st.uncovered);

        first_batch = s.lease_batch(2, no_byte_limit, 12.0)->batch_id;
        s.commit(readings_of({rd("d1", 7, 5)}, 13.0));
        st = s.stats();
        CHECK(st.pending_readings == 2);
        CHECK(st.pending_bytes == 2 * size);
        CHECK(st.leased_batches == 1);
        CHECK(st.leased_readings == 2);
        CHECK(st.uncovered);  // 3 is pending, so 3..4 are not covered yet
    }
    store s(dir.settings());
    auto st = s.stats();
    CHECK(st.pending_readings == 2);
    CHECK(st.pending_bytes == 2 * size);
    CHECK(st.leased_batches == 1);
    CHECK(st.leased_readings == 2);
    CHECK(st.oldest_enqueued == 10.0);
    CHECK(st.uncovered);

    CHECK(s.ack_batch(first_batch));
    st = s.stats();
    CHECK(st.leased_batches == 0);
    CHECK(st.leased_readings == 0);
    CHECK(st.oldest_enqueued == 10.0);  // seq 3, same commit

    const auto l = s.lease_batch(10, no_byte_limit, 14.0);
    REQUIRE(l);
    CHECK(l->ranges == ranges{{"d1", 7, 3, 5}});
    CHECK(s.ack_batch(l->batch_id));
    st = s.stats();
    CHECK(st.pending_readings == 0);
    CHECK(st.pending_bytes == 0);
    CHECK(st.leased_batches == 0);
    CHECK_FALSE(st.oldest_enqueued);
    CHECK_FALSE(st.uncovered);
}

TEST_CASE("store: one commit of many rows") {
    const temp_dir dir;
    store s(dir.settings());
    commit_set set;
    constexpr std::uint64_t n = 20'000;
    for (std::uint64_t i = 1; i <= n; ++i) {
        set.readings.push_back(rd("d" + std::to_string(i % 7), 1, i));
    }
    for (int d = 0; d < 7; ++d) {
        set.progress.push_back({"d" + std::to_string(d), 1, n});
    }
    const auto result = s.commit(set);
    CHECK(result.inserted == n);
    CHECK(s.stats().pending_readings == n);
    std::size_t leased = 0;
    std::size_t batches = 0;
    while (const auto l = s.lease_batch(1000, no_byte_limit, 1.0)) {
        leased += l->readings.size();
        ++batches;
        CHECK(s.ack_batch(l->batch_id));
    }
    CHECK(leased == n);
    CHECK(batches == 20);
    CHECK(s.stats().pending_readings == 0);
    CHECK_FALSE(s.stats().uncovered);
}

TEST_CASE("store: values it cannot hold are refused before anything is written") {
    const temp_dir dir;
    store s(dir.settings());
    auto bad =
        readings_of({rd("d1", 1, 1), rd("d1", 1, 2, std::numeric_limits<double>::quiet_NaN())});
    CHECK_THROWS_AS(s.commit(bad), fogbridge::store_error);
    CHECK(s.stats().pending_readings == 0);
    try {
        s.commit(readings_of({rd("d1", 1, std::uint64_t{1} << 63U)}));
        FAIL("stored");
    } catch (const fogbridge::store_error& e) {
        CHECK(e.code() == fogbridge::store_errc::invalid_input);
    }
}

TEST_CASE("store: the JSON size estimate matches a real encoding") {
    const reading r{"dev-1", "temperature", 21.37, "C", 1732630000.123, 7, 1042};
    const nlohmann::json j = {{"device", r.device}, {"sensor", r.sensor}, {"value", r.value},
                              {"unit", r.unit},     {"ts", r.ts},         {"boot", r.boot},
                              {"seq", r.seq}};
    CHECK(fogbridge::encoded_size(r) == j.dump().size() + 1);  // + the comma
}

TEST_CASE("store: commits and leases from two threads") {
    const temp_dir dir;
    store s(dir.settings());
    constexpr std::uint64_t n = 2'000;
    std::thread writer([&] {
        for (std::uint64_t i = 1; i <= n; i += 100) {
            commit_set set;
            for (std::uint64_t k = i; k < i + 100; ++k) {
                set.readings.push_back(rd("d1", 1, k));
            }
            set.progress.push_back({"d1", 1, i + 99});
            s.commit(set);
        }
    });
    std::size_t acked = 0;
    std::uint64_t next_seq = 1;
    bool in_order = true;
    while (acked < n) {
        const auto l = s.lease_batch(150, no_byte_limit, 1.0);
        if (!l) {
            continue;
        }
        for (const auto& sr : l->readings) {
            in_order = in_order && sr.r.seq == next_seq++;
        }
        acked += l->readings.size();
        s.ack_batch(l->batch_id);
    }
    writer.join();
    CHECK(in_order);
    const auto st = s.stats();
    CHECK(st.pending_readings == 0);
    CHECK(st.leased_batches == 0);
    CHECK_FALSE(st.uncovered);
}
