#include <doctest/doctest.h>

#include "store/coverage.hpp"

using fogbridge::account_batch;
using fogbridge::coverage_input;
using fogbridge::first_seq_not_carried;
using fogbridge::in_runs;
using fogbridge::merge_runs;
using fogbridge::seq_run;
using runs = std::vector<seq_run>;

TEST_CASE("coverage: in-order readings with filtered gaps make one run") {
    coverage_input in;
    in.processed = 10;
    in.batch_seqs = {3, 7};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{1, 10}});
    CHECK(out.covered == 10);
    CHECK(out.ahead.empty());
}

TEST_CASE("coverage: stops before the first reading still pending") {
    coverage_input in;
    in.processed = 10;
    in.batch_seqs = {3};
    in.first_unbatched = 7;
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{1, 6}});
    CHECK(out.covered == 6);

    coverage_input next;
    next.covered = 6;
    next.processed = 10;
    next.batch_seqs = {7};
    const auto rest = account_batch(next);
    CHECK(rest.runs == runs{{7, 10}});
    CHECK(rest.covered == 10);
}

TEST_CASE("coverage: blocked at once leaves the watermark") {
    coverage_input in;
    in.covered = 4;
    in.processed = 9;
    in.first_unbatched = 5;
    const auto out = account_batch(in);
    CHECK(out.runs.empty());
    CHECK(out.covered == 4);
}

TEST_CASE("coverage: a reading above processed is a run of its own and kept ahead") {
    coverage_input in;
    in.covered = 10;
    in.processed = 10;
    in.batch_seqs = {15};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{15, 15}});
    CHECK(out.covered == 10);
    CHECK(out.ahead == runs{{15, 15}});

    coverage_input later;
    later.covered = 10;
    later.processed = 20;
    later.ahead = {{15, 15}};
    const auto rest = account_batch(later);
    CHECK(rest.runs == runs{{11, 14}, {16, 20}});
    CHECK(rest.covered == 20);
    CHECK(rest.ahead.empty());
}

TEST_CASE("coverage: carried readings extend the watermark past processed") {
    coverage_input in;
    in.covered = 10;
    in.processed = 10;
    in.batch_seqs = {11, 12, 14};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{11, 12}, {14, 14}});
    CHECK(out.covered == 12);
    CHECK(out.ahead == runs{{14, 14}});
}

TEST_CASE("coverage: the watermark passes earlier carried seqs without reporting them") {
    coverage_input in;
    in.covered = 10;
    in.processed = 11;
    in.ahead = {{12, 13}, {20, 20}};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{11, 11}});
    CHECK(out.covered == 13);
    CHECK(out.ahead == runs{{20, 20}});
}

TEST_CASE("coverage: a reading at or below the watermark is still reported") {
    coverage_input in;
    in.covered = 10;
    in.processed = 10;
    in.batch_seqs = {4};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{4, 4}});
    CHECK(out.covered == 10);
    CHECK(out.ahead.empty());
}

TEST_CASE("coverage: huge filtered spans are not walked seq by seq") {
    coverage_input in;
    in.covered = 1;
    in.processed = 4'000'000'000'000ULL;
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{2, 4'000'000'000'000ULL}});
}

TEST_CASE("coverage: first seq not carried") {
    CHECK(first_seq_not_carried(0, {}) == 1);
    CHECK(first_seq_not_carried(3, {4, 5, 7}) == 6);
    CHECK(first_seq_not_carried(3, {1, 2, 9}) == 4);
}

TEST_CASE("coverage: a gap record's span in ahead is passed without being reported") {
    // 5 and 9 were dropped (one gap record spanning 5..9); 6..8 were filtered and are accounted
    // by that record too.
    coverage_input in;
    in.covered = 2;
    in.processed = 12;
    in.ahead = {{5, 9}};
    in.batch_seqs = {3};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{3, 4}, {10, 12}});
    CHECK(out.covered == 12);
    CHECK(out.ahead.empty());
}

TEST_CASE("coverage: only ahead runs left moves the watermark without reporting anything") {
    coverage_input in;
    in.covered = 4;
    in.processed = 9;
    in.ahead = {{5, 6}, {7, 9}, {12, 12}};
    const auto out = account_batch(in);
    CHECK(out.runs.empty());
    CHECK(out.covered == 9);
    CHECK(out.ahead == runs{{12, 12}});
}

TEST_CASE("coverage: carried seqs inside ahead runs merge with them") {
    coverage_input in;
    in.covered = 10;
    in.processed = 10;
    in.ahead = {{14, 16}};
    in.batch_seqs = {13, 17, 20};
    const auto out = account_batch(in);
    CHECK(out.runs == runs{{13, 13}, {17, 17}, {20, 20}});
    CHECK(out.covered == 10);
    CHECK(out.ahead == runs{{13, 17}, {20, 20}});
}

TEST_CASE("coverage: merge and search runs") {
    runs r{{9, 9}, {1, 3}, {4, 4}, {2, 2}, {11, 12}};
    merge_runs(r);
    CHECK(r == runs{{1, 4}, {9, 9}, {11, 12}});
    CHECK(in_runs(r, 1));
    CHECK(in_runs(r, 4));
    CHECK_FALSE(in_runs(r, 5));
    CHECK_FALSE(in_runs(r, 10));
    CHECK(in_runs(r, 12));
    CHECK_FALSE(in_runs(r, 13));
    CHECK_FALSE(in_runs({}, 1));
}
