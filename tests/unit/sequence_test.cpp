#include "validate/sequence.hpp"

#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

using fogbridge::seq_gap;
using fogbridge::seq_verdict;
using fogbridge::sequence_settings;
using fogbridge::sequence_tracker;
using dirty_list = std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>>;

namespace {
const std::string d1 = "d1";
const std::string d2 = "d2";
}  // namespace

TEST_CASE("an unknown series has mark 0 and every seq is fresh") {
    const sequence_tracker t;
    CHECK(t.contiguous(d1, 7) == 0u);
    CHECK(t.check(d1, 7, 1) == seq_verdict::fresh);
    CHECK(t.check(d1, 7, 1000) == seq_verdict::fresh);
    CHECK(t.pending(d1, 7) == 0u);
}

TEST_CASE("in-order seqs advance the mark; re-sent ones are duplicates") {
    sequence_tracker t;
    for (std::uint64_t s = 1; s <= 5; ++s) {
        CHECK(t.check(d1, 7, s) == seq_verdict::fresh);
        CHECK_FALSE(t.mark({.device = d1, .boot = 7, .seq = s}));
    }
    CHECK(t.contiguous(d1, 7) == 5u);
    for (std::uint64_t s = 1; s <= 5; ++s) CHECK(t.check(d1, 7, s) == seq_verdict::duplicate);
    CHECK(t.check(d1, 7, 6) == seq_verdict::fresh);
    t.mark({.device = d1, .boot = 7, .seq = 3});  // marking again changes nothing
    CHECK(t.contiguous(d1, 7) == 5u);
    CHECK(t.pending(d1, 7) == 0u);
}

TEST_CASE("out-of-order seqs wait above the mark and are absorbed when the hole fills") {
    sequence_tracker t;
    t.mark({.device = d1, .boot = 7, .seq = 1});
    t.mark({.device = d1, .boot = 7, .seq = 3});
    t.mark({.device = d1, .boot = 7, .seq = 4});
    t.mark({.device = d1, .boot = 7, .seq = 6});
    CHECK(t.contiguous(d1, 7) == 1u);
    CHECK(t.pending(d1, 7) == 3u);
    CHECK(t.check(d1, 7, 3) == seq_verdict::duplicate);
    CHECK(t.check(d1, 7, 4) == seq_verdict::duplicate);
    CHECK(t.check(d1, 7, 2) == seq_verdict::fresh);
    CHECK(t.check(d1, 7, 5) == seq_verdict::fresh);
    t.mark({.device = d1, .boot = 7, .seq = 4});  // duplicate of a pending one
    CHECK(t.pending(d1, 7) == 3u);

    t.mark({.device = d1, .boot = 7, .seq = 2});
    CHECK(t.contiguous(d1, 7) == 4u);
    CHECK(t.pending(d1, 7) == 1u);
    t.mark({.device = d1, .boot = 7, .seq = 5});
    CHECK(t.contiguous(d1, 7) == 6u);
    CHECK(t.pending(d1, 7) == 0u);
}

TEST_CASE("series are separate per device and per boot; a new boot keeps the old mark") {
    sequence_tracker t;
    t.mark({.device = d1, .boot = 7, .seq = 1});
    t.mark({.device = d1, .boot = 7, .seq = 2});
    t.mark({.device = d1, .boot = 8, .seq = 1});
    t.mark({.device = d2, .boot = 7, .seq = 1});
    CHECK(t.contiguous(d1, 7) == 2u);
    CHECK(t.contiguous(d1, 8) == 1u);
    CHECK(t.contiguous(d2, 7) == 1u);
    CHECK(t.check(d1, 7, 2) == seq_verdict::duplicate);
    CHECK(t.check(d1, 8, 2) == seq_verdict::fresh);
    t.mark({.device = d1, .boot = 7, .seq = 3});  // a late re-send from the older boot still counts
    CHECK(t.contiguous(d1, 7) == 3u);
}

TEST_CASE("over the pending cap the lowest missing range is given up and returned") {
    sequence_tracker t(sequence_settings{.max_pending = 3, .max_boots_per_device = 16});
    t.mark({.device = d1, .boot = 7, .seq = 1});
    CHECK_FALSE(t.mark({.device = d1, .boot = 7, .seq = 5}));
    CHECK_FALSE(t.mark({.device = d1, .boot = 7, .seq = 6}));
    CHECK_FALSE(t.mark({.device = d1, .boot = 7, .seq = 9}));
    CHECK(t.pending(d1, 7) == 3u);
    // A fourth pending seq: 2..4 are given up, the mark moves over 5 and 6.
    CHECK(t.mark({.device = d1, .boot = 7, .seq = 10}) == seq_gap{2, 4});
    CHECK(t.contiguous(d1, 7) == 6u);
    CHECK(t.pending(d1, 7) == 2u);
    CHECK(t.check(d1, 7, 3) == seq_verdict::duplicate);
    CHECK(t.check(d1, 7, 7) == seq_verdict::fresh);
    CHECK_FALSE(t.mark({.device = d1, .boot = 7, .seq = 7}));
    CHECK(t.mark({.device = d1, .boot = 7, .seq = 8}) == std::nullopt);
    CHECK(t.contiguous(d1, 7) == 10u);
}

TEST_CASE("the default cap is 4096 pending seqs") {
    sequence_tracker t;
    for (std::uint64_t s = 2; s <= 4097; ++s)
        CHECK_FALSE(t.mark({.device = d1, .boot = 1, .seq = s}));
    CHECK(t.pending(d1, 1) == 4096u);
    CHECK(t.mark({.device = d1, .boot = 1, .seq = 5000}) == seq_gap{1, 1});
    CHECK(t.contiguous(d1, 1) == 4097u);
    CHECK(t.pending(d1, 1) == 1u);
}

TEST_CASE("skip_missing gives up the lowest hole on request") {
    sequence_tracker t;
    CHECK_FALSE(t.skip_missing(d1, 7));
    t.mark({.device = d1, .boot = 7, .seq = 1});
    CHECK_FALSE(t.skip_missing(d1, 7));
    t.mark({.device = d1, .boot = 7, .seq = 4});
    t.mark({.device = d1, .boot = 7, .seq = 8});
    CHECK(t.skip_missing(d1, 7) == seq_gap{2, 3});
    CHECK(t.contiguous(d1, 7) == 4u);
    CHECK(t.skip_missing(d1, 7) == seq_gap{5, 7});
    CHECK(t.contiguous(d1, 7) == 8u);
}

TEST_CASE("restore sets the mark from the store, never lowers it and is not dirty") {
    sequence_tracker t;
    t.restore(d1, 7, 100);
    CHECK(t.contiguous(d1, 7) == 100u);
    CHECK(t.check(d1, 7, 100) == seq_verdict::duplicate);
    CHECK(t.check(d1, 7, 101) == seq_verdict::fresh);
    CHECK(t.take_dirty().empty());
    t.restore(d1, 7, 50);
    CHECK(t.contiguous(d1, 7) == 100u);
    t.mark({.device = d1, .boot = 7, .seq = 101});
    CHECK(t.take_dirty() == dirty_list{{"d1", 7, 101}});
}

TEST_CASE("restore absorbs pending seqs and reports the mark when it moved past the store") {
    sequence_tracker t;
    t.mark({.device = d1, .boot = 7, .seq = 5});
    t.mark({.device = d1, .boot = 7, .seq = 6});
    t.restore(d1, 7, 3);
    CHECK(t.contiguous(d1, 7) == 3u);
    CHECK(t.take_dirty().empty());
    t.restore(d1, 7, 4);
    CHECK(t.contiguous(d1, 7) == 6u);
    CHECK(t.take_dirty() == dirty_list{{"d1", 7, 6}});
}

TEST_CASE("take_dirty lists each moved series once, in order, and then starts over") {
    sequence_tracker t;
    t.mark({.device = d2, .boot = 1, .seq = 1});
    t.mark({.device = d1, .boot = 7, .seq = 1});
    t.mark({.device = d2, .boot = 1, .seq = 2});
    t.mark({.device = d1, .boot = 7, .seq = 3});  // pending only: the mark did not move again
    CHECK(t.take_dirty() == dirty_list{{"d2", 1, 2}, {"d1", 7, 1}});
    CHECK(t.take_dirty().empty());
    t.mark({.device = d1, .boot = 7, .seq = 3});  // already pending
    CHECK(t.take_dirty().empty());
    t.mark({.device = d1, .boot = 7, .seq = 2});
    CHECK(t.take_dirty() == dirty_list{{"d1", 7, 3}});
}

TEST_CASE("beyond max_boots_per_device the least recently used boot is retired with its mark") {
    sequence_tracker t(sequence_settings{.max_pending = 4096, .max_boots_per_device = 2});
    t.mark({.device = d1, .boot = 1, .seq = 1});
    t.mark({.device = d1, .boot = 2, .seq = 1});
    CHECK(t.take_dirty().size() == 2u);
    t.mark({.device = d1, .boot = 1, .seq = 2});  // boot 1 is now the most recent
    t.mark({.device = d1, .boot = 3, .seq = 1});  // retires boot 2
    CHECK(t.contiguous(d1, 2) == 1u);
    CHECK(t.check(d1, 2, 1) == seq_verdict::duplicate);
    CHECK(t.contiguous(d1, 1) == 2u);
    CHECK(t.contiguous(d1, 3) == 1u);
    t.mark({.device = d1,
            .boot = 4,
            .seq = 1});  // retires boot 1, whose new mark was not taken yet: it is still reported
    CHECK(t.contiguous(d1, 1) == 2u);
    CHECK(t.take_dirty() == dirty_list{{"d1", 1, 2}, {"d1", 3, 1}, {"d1", 4, 1}});
    t.mark({.device = d2, .boot = 1, .seq = 1});  // other devices have their own budget
    CHECK(t.contiguous(d1, 3) == 1u);
    // A retired boot comes back with its mark.
    t.mark({.device = d1, .boot = 1, .seq = 1});
    CHECK(t.take_dirty().size() == 1u);  // only d2's new boot
    t.mark({.device = d1, .boot = 1, .seq = 3});
    CHECK(t.contiguous(d1, 1) == 3u);
    CHECK(t.take_dirty() == dirty_list{{"d1", 1, 3}});
}

TEST_CASE("restoring more boots than max_boots_per_device keeps every mark") {
    sequence_tracker t(sequence_settings{.max_pending = 4096, .max_boots_per_device = 2});
    for (std::uint64_t b = 1; b <= 10; ++b) t.restore(d1, b, b * 10);
    for (std::uint64_t b = 1; b <= 10; ++b) {
        CHECK(t.contiguous(d1, b) == b * 10);
        CHECK(t.check(d1, b, b * 10) == seq_verdict::duplicate);
        CHECK(t.check(d1, b, b * 10 + 1) == seq_verdict::fresh);
    }
    CHECK(t.take_dirty().empty());
    t.restore(d1, 4, 5);  // never lowers a mark
    CHECK(t.contiguous(d1, 4) == 40u);
}

TEST_CASE("beyond max_retired the longest retired mark is forgotten") {
    sequence_tracker t(
        sequence_settings{.max_pending = 4096, .max_boots_per_device = 1, .max_retired = 2});
    t.restore(d1, 1, 10);
    t.restore(d1, 2, 20);
    t.restore(d1, 3, 30);
    CHECK(t.contiguous(d1, 1) == 0u);
    CHECK(t.contiguous(d1, 2) == 20u);
    CHECK(t.contiguous(d1, 3) == 30u);
}
