#include "fogbridge/backoff.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

using namespace std::chrono_literals;
using fogbridge::backoff;
using fogbridge::backoff_settings;

namespace {

// Always returns the same draw out of [0, 1000]: 0 is the lowest delay, 1000 the highest.
struct fixed_rng {
    using result_type = std::uint32_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return 1000; }
    result_type value = 0;
    result_type operator()() const { return value; }
};

}  // namespace

TEST_CASE("backoff: the highest draws grow by the multiplier up to the cap") {
    backoff b(backoff_settings{100ms, 5000ms, 3.0});
    fixed_rng top{1000};
    CHECK(b.next(top) == 300ms);
    CHECK(b.next(top) == 900ms);
    CHECK(b.next(top) == 2700ms);
    CHECK(b.next(top) == 5000ms);
    CHECK(b.next(top) == 5000ms);
}

TEST_CASE("backoff: the lowest draws stay at the initial delay") {
    backoff b(backoff_settings{100ms, 5000ms, 3.0});
    fixed_rng low{0};
    for (int i = 0; i < 5; ++i) {
        CHECK(b.next(low) == 100ms);
    }
}

TEST_CASE("backoff: decorrelated jitter draws between initial and previous times multiplier") {
    backoff b(backoff_settings{100ms, 5000ms, 3.0});
    fixed_rng middle{500};
    CHECK(b.next(middle) == 200ms);  // 100 + 0.5 * (300 - 100)
    CHECK(b.next(middle) == 350ms);  // 100 + 0.5 * (600 - 100)
    CHECK(b.next(middle) == 575ms);  // 100 + 0.5 * (1050 - 100)
}

TEST_CASE("backoff: reset starts again from the initial delay") {
    backoff b(backoff_settings{100ms, 5000ms, 3.0});
    fixed_rng top{1000};
    CHECK(b.next(top) == 300ms);
    CHECK(b.next(top) == 900ms);
    b.reset();
    CHECK(b.next(top) == 300ms);
}

TEST_CASE("backoff: seeded draws stay in bounds and are reproducible") {
    const backoff_settings s{250ms, 30000ms, 3.0};
    backoff a(s);
    backoff b(s);
    std::mt19937_64 rng_a(42);
    std::mt19937_64 rng_b(42);
    auto previous = s.initial;
    std::set<long long> distinct;
    for (int i = 0; i < 10000; ++i) {
        const auto d = a.next(rng_a);
        CHECK(d >= s.initial);
        CHECK(d <= s.max);
        CHECK(d.count() <= std::max(s.initial.count(), previous.count() * 3));
        CHECK(d == b.next(rng_b));
        distinct.insert(d.count());
        previous = d;
    }
    CHECK(distinct.size() > 1000);  // jittered, not a fixed ladder
}

TEST_CASE("backoff: nonsense settings are made safe") {
    backoff b(backoff_settings{0ms, 0ms, 0.5});
    fixed_rng top{1000};
    CHECK(b.settings().initial == 1ms);
    CHECK(b.settings().max == 1ms);
    CHECK(b.settings().multiplier == 1.0);
    CHECK(b.next(top) == 1ms);
}
