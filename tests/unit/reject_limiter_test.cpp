#include "pipeline/reject_limiter.hpp"

#include <doctest/doctest.h>

using fogbridge::reject_limiter;

TEST_CASE("reject limiter: a burst, then the rate, and the count of what was held back") {
    reject_limiter l({.per_s = 10, .burst = 3});
    for (int i = 0; i < 3; ++i) CHECK(l.admit("d1", 100.0) == std::uint64_t{0});
    CHECK_FALSE(l.admit("d1", 100.0));
    CHECK_FALSE(l.admit("d1", 100.05));  // half a token back
    // Another device has its own bucket.
    CHECK(l.admit("d2", 100.05) == std::uint64_t{0});
    // A whole token is back (0.1 s after the last one, and then some): published, saying two
    // were held back.
    CHECK(l.admit("d1", 100.15) == std::uint64_t{2});
    CHECK_FALSE(l.admit("d1", 100.15));
    // Idle for long: the bucket refills to the burst, not beyond.
    for (int i = 0; i < 3; ++i) CHECK(l.admit("d1", 200.0).has_value());
    CHECK_FALSE(l.admit("d1", 200.0));
}

TEST_CASE("reject limiter: rate 0 is no limit; many made-up ids do not grow it without end") {
    reject_limiter none({.per_s = 0, .burst = 1});
    for (int i = 0; i < 1000; ++i) CHECK(none.admit("d", 1.0) == std::uint64_t{0});
    reject_limiter l({.per_s = 1, .burst = 1});
    for (int i = 0; i < 20000; ++i) {
        // Each new id starts with a full bucket, even after the map was pruned.
        REQUIRE(l.admit("id-" + std::to_string(i), 5.0) == std::uint64_t{0});
    }
}
