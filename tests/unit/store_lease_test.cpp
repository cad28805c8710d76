#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store_fixture.hpp"

using namespace store_fixture;

TEST_CASE("store: a lease takes the oldest readings within max_readings and max_bytes") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(readings_of({rd("d2", 1, 5), rd("d1", 1, 1), rd("d1", 1, 2)}));
    s.commit(readings_of({rd("d1", 1, 3), rd("d1", 1, 4)}));
    const std::size_t size = fogbridge::encoded_size(rd("d1", 1, 1));

    auto a = s.lease_batch(2, no_byte_limit, 1.0);
    REQUIRE(a);
    CHECK(a->readings.size() == 2);
    CHECK(a->readings[0].r == rd("d2", 1, 5));
    CHECK(a->readings[1].r == rd("d1", 1, 1));

    auto b = s.lease_batch(10, 2 * size, 1.0);  // exactly two fit
    REQUIRE(b);
    CHECK(seqs_of(*b) == std::vector<std::uint64_t>{2, 3});

    auto c = s.lease_batch(10, size - 1, 1.0);  // too small for one: still takes one
    REQUIRE(c);
    CHECK(seqs_of(*c) == std::vector<std::uint64_t>{4});

    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 1.0));
}

TEST_CASE("store: ranges of in-order readings with filtered gaps") {
    const temp_dir dir;
    store s(dir.settings());
    auto set = readings_of({rd("d1", 7, 3), rd("d1", 7, 7)});
    set.progress.push_back({"d1", 7, 10});
    s.commit(set);
    const auto l = s.lease_batch(10, no_byte_limit, 1.0);
    REQUIRE(l);
    CHECK(seqs_of(*l) == std::vector<std::uint64_t>{3, 7});
    CHECK(l->ranges == ranges{{"d1", 7, 1, 10}});
    CHECK_FALSE(s.stats().uncovered);
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 1.0));
}

TEST_CASE("store: ranges of readings split over two batches") {
    const temp_dir dir;
    store s(dir.settings());
    auto set = readings_of({rd("d1", 7, 3), rd("d1", 7, 7)});
    set.progress.push_back({"d1", 7, 10});
    s.commit(set);
    const auto a = s.lease_batch(1, no_byte_limit, 1.0);
    REQUIRE(a);
    CHECK(seqs_of(*a) == std::vector<std::uint64_t>{3});
    CHECK(a->ranges == ranges{{"d1", 7, 1, 6}});
    CHECK(s.stats().uncovered);
    const auto b = s.lease_batch(1, no_byte_limit, 1.0);
    REQUIRE(b);
    CHECK(seqs_of(*b) == std::vector<std::uint64_t>{7});
    CHECK(b->ranges == ranges{{"d1", 7, 7, 10}});
    CHECK_FALSE(s.stats().uncovered);
}

TEST_CASE("store: a coverage-only lease reports a filtered tail") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(readings_of({rd("d1", 7, 1)}));
    CHECK(s.lease_batch(10, no_byte_limit, 1.0)->ranges == ranges{{"d1", 7, 1, 1}});
    s.commit(progress_of("d1", 7, 5));  // 2..5 filtered
    CHECK(s.stats().uncovered);
    const auto l = s.lease_batch(10, no_byte_limit, 2.0);
    REQUIRE(l);
    CHECK(l->readings.empty());
    CHECK(l->ranges == ranges{{"d1", 7, 2, 5}});
    CHECK_FALSE(s.stats().uncovered);
    CHECK(s.stats().leased_batches == 2);
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 3.0));
}

TEST_CASE("store: an out-of-order reading is its own run and is not reported again") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(progress_of("d1", 7, 10));
    CHECK(s.lease_batch(10, no_byte_limit, 1.0)->ranges == ranges{{"d1", 7, 1, 10}});

    s.commit(readings_of({rd("d1", 7, 15)}));  // 11..14 not here yet
    const auto a = s.lease_batch(10, no_byte_limit, 2.0);
    REQUIRE(a);
    CHECK(a->ranges == ranges{{"d1", 7, 15, 15}});
    CHECK(s.ack_batch(a->batch_id));
    CHECK_FALSE(s.stats().uncovered);

    s.commit(progress_of("d1", 7, 20));  // 11..14 and 16..20 arrived and were filtered
    const auto b = s.lease_batch(10, no_byte_limit, 3.0);
    REQUIRE(b);
    CHECK(b->readings.empty());
    CHECK(b->ranges == ranges{{"d1", 7, 11, 14}, {"d1", 7, 16, 20}});
}

TEST_CASE("store: a re-sent copy of an acknowledged out-of-order reading") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(progress_of("d1", 7, 10));
    REQUIRE(s.lease_batch(10, no_byte_limit, 1.0));
    s.commit(readings_of({rd("d1", 7, 15)}));
    const auto a = s.lease_batch(10, no_byte_limit, 2.0);
    REQUIRE(a);
    CHECK(s.ack_batch(a->batch_id));

    auto set = readings_of({rd("d2", 1, 1), rd("d1", 7, 15)});  // 15 again, stored again
    set.progress.push_back({"d1", 7, 20});
    CHECK(s.commit(set).inserted == 2);
    // The pending copy of 15 does not hold coverage back: 15 was accounted already.
    const auto b = s.lease_batch(1, no_byte_limit, 3.0);
    REQUIRE(b);
    CHECK(b->ranges == ranges{{"d1", 7, 11, 14}, {"d1", 7, 16, 20}, {"d2", 1, 1, 1}});
    const auto c = s.lease_batch(1, no_byte_limit, 4.0);
    REQUIRE(c);
    CHECK(seqs_of(*c) == std::vector<std::uint64_t>{15});
    CHECK(c->ranges == ranges{{"d1", 7, 15, 15}});
    CHECK_FALSE(s.stats().uncovered);
}

TEST_CASE("store: ranges of several series, and a reading without progress") {
    const temp_dir dir;
    store s(dir.settings());
    auto set = readings_of({rd("d2", 1, 1), rd("d1", 9, 1), rd("d1", 9, 2)});
    set.progress = {{"d1", 9, 4}, {"d3", 2, 3}};
    s.commit(set);
    const auto l = s.lease_batch(10, no_byte_limit, 1.0);
    REQUIRE(l);
    CHECK(l->ranges == ranges{{"d1", 9, 1, 4}, {"d2", 1, 1, 1}, {"d3", 2, 1, 3}});
    s.commit(progress_of("d2", 1, 1));  // already covered by the carried reading
    CHECK_FALSE(s.stats().uncovered);
    CHECK_FALSE(s.lease_batch(10, no_byte_limit, 1.0));
}

TEST_CASE("store: leased batches survive a restart unchanged") {
    const temp_dir dir;
    std::vector<lease> before;
    {
        store s(dir.settings());
        auto set = readings_of({rd("d1", 7, 2), rd("d2", 1, 1), rd("d1", 7, 4)}, 42.5);
        set.progress.push_back({"d1", 7, 6});
        s.commit(set);
        before.push_back(*s.lease_batch(2, no_byte_limit, 100.0));
        before.push_back(*s.lease_batch(2, no_byte_limit, 101.0));
        s.commit(readings_of({rd("d1", 7, 7)}));  // pending, not leased
        CHECK(s.leased_batches() == before);
    }
    store s(dir.settings());
    const auto after = s.leased_batches();
    CHECK(after == before);
    REQUIRE(after.size() == 2);
    CHECK(after[0].ranges == ranges{{"d1", 7, 1, 3}, {"d2", 1, 1, 1}});
    CHECK(after[1].ranges == ranges{{"d1", 7, 4, 6}});
    CHECK(after[1].created == 101.0);
    CHECK(after[0].readings[0].enqueued == 42.5);
    CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 102.0)) == std::vector<std::uint64_t>{7});
}

TEST_CASE("store: ack deletes the batch and its readings once") {
    const temp_dir dir;
    store s(dir.settings());
    s.commit(readings_of({rd("d1", 7, 1), rd("d1", 7, 2), rd("d1", 7, 3)}));
    const auto a = s.lease_batch(2, no_byte_limit, 1.0);
    const auto b = s.lease_batch(2, no_byte_limit, 1.0);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(s.ack_batch(a->batch_id));
    CHECK_FALSE(s.ack_batch(a->batch_id));
    CHECK_FALSE(s.ack_batch("no-such-batch"));
    const auto left = s.leased_batches();
    REQUIRE(left.size() == 1);
    CHECK(left[0] == *b);
    // The acked readings are gone; dropping late re-sends of them is the pipeline's job
    // (it knows the processed marks from load_progress).
    CHECK(s.commit(readings_of({rd("d1", 7, 1)})).inserted == 1);
}

TEST_CASE(
    "store: readings stored after everything was acknowledged are leased, also after a "
    "restart") {
    const temp_dir dir;
    {
        store s(dir.settings());
        s.commit(readings_of({rd("d1", 1, 1), rd("d1", 1, 2), rd("d1", 1, 3)}));
        REQUIRE(s.lease_batch(2, no_byte_limit, 1.0));
        const auto b = s.lease_batch(2, no_byte_limit, 1.0);
        REQUIRE(b);
        CHECK(s.ack_batch(b->batch_id));  // the newest rows go first
        s.commit(readings_of({rd("d1", 1, 4)}));
        CHECK(seqs_of(*s.lease_batch(10, no_byte_limit, 1.0)) == std::vector<std::uint64_t>{4});
        s.commit(readings_of({rd("d1", 1, 5)}));
        for (const auto& l : s.leased_batches()) {
            CHECK(s.ack_batch(l.batch_id));
        }
        CHECK(s.stats().pending_readings == 1);
    }
    {
        store s(dir.settings());
        const auto l = s.lease_batch(10, no_byte_limit, 1.0);
        REQUIRE(l);
        CHECK(seqs_of(*l) == std::vector<std::uint64_t>{5});
        CHECK(s.ack_batch(l->batch_id));
        CHECK(s.stats().leased_readings == 0);
    }
    store s(dir.settings());  // reopened with an empty table
    s.commit(readings_of({rd("d1", 1, 6)}));
    const auto l = s.lease_batch(10, no_byte_limit, 1.0);
    REQUIRE(l);
    CHECK(seqs_of(*l) == std::vector<std::uint64_t>{6});
    CHECK(s.leased_batches() == std::vector<lease>{*l});
}
