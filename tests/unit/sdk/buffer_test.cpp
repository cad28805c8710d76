// One contract for every reading_buffer implementation: each case runs against memory_buffer and
// file_buffer (file-only behaviour: file_buffer_test.cpp).
#include "fogbridge/buffer.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fogbridge/file_buffer.hpp"

namespace fs = std::filesystem;
using fogbridge::buffered_reading;
using fogbridge::buffered_run;
using fogbridge::reading_buffer;

namespace {

struct memory_kind {
    std::unique_ptr<reading_buffer> make(std::size_t capacity) {
        return std::make_unique<fogbridge::memory_buffer>(capacity);
    }
};

struct file_kind {
    fs::path dir;
    file_kind() {
        std::string pattern = (fs::temp_directory_path() / "fogbridge-buffer-XXXXXX").string();
        dir = mkdtemp(pattern.data());
    }
    ~file_kind() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    file_kind(const file_kind&) = delete;
    file_kind& operator=(const file_kind&) = delete;

    std::unique_ptr<reading_buffer> make(std::size_t capacity) {
        fogbridge::file_buffer_settings s;
        s.path = dir / "readings.buf";
        s.capacity = capacity;
        s.segment_bytes = 2048;  // small, so that longer cases cross segments
        s.fsync_interval = std::chrono::milliseconds{60000};
        return std::make_unique<fogbridge::file_buffer>(s);
    }
};

buffered_reading reading(std::uint64_t seq, std::uint64_t boot = 1) {
    return buffered_reading{boot,          seq,
                            "temperature", 20.0 + static_cast<double>(seq),
                            "C",           1000.0 + static_cast<double>(seq)};
}

std::vector<std::uint64_t> seqs_from(const reading_buffer& b, std::uint64_t boot,
                                     std::uint64_t from, std::size_t max) {
    std::vector<buffered_reading> out;
    const std::size_t n = b.read({.boot = boot, .from_seq = from, .max_count = max}, out);
    std::vector<std::uint64_t> seqs;
    for (const auto& r : out) {
        seqs.push_back(r.seq);
    }
    CHECK(n == seqs.size());
    return seqs;
}

using seqs = std::vector<std::uint64_t>;
using runs = std::vector<buffered_run>;

}  // namespace

TEST_CASE_TEMPLATE("reading_buffer: accepts until full, then refuses", Kind, memory_kind,
                   file_kind) {
    Kind kind;
    auto b = kind.make(3);
    CHECK(b->empty());
    CHECK_FALSE(b->front_run().has_value());
    CHECK(b->push(reading(1)));
    CHECK(b->push(reading(2)));
    CHECK(b->push(reading(3)));
    CHECK(b->full());
    CHECK_FALSE(b->push(reading(4)));
    CHECK(b->size() == 3);
    CHECK(b->runs() == runs{{1, 1, 3}});
    CHECK(b->front_run() == buffered_run{1, 1, 3});
}

TEST_CASE_TEMPLATE("reading_buffer: an ack drops everything up to its seq", Kind, memory_kind,
                   file_kind) {
    Kind kind;
    auto b = kind.make(5);
    for (std::uint64_t s = 1; s <= 5; ++s) {
        REQUIRE(b->push(reading(s)));
    }
    CHECK(b->drop_through({.boot = 1, .seq = 2}) == 2);  // partial ack
    CHECK(b->size() == 3);
    CHECK(b->runs() == runs{{1, 3, 5}});
    CHECK(b->drop_through({.boot = 1, .seq = 2}) == 0);  // the same ack again
    CHECK(b->drop_through({.boot = 9, .seq = 5}) == 0);  // a boot not held
    CHECK(b->push(reading(6)));                          // room again after the ack
    CHECK(b->drop_through({.boot = 1, .seq = 6}) == 4);
    CHECK(b->empty());
    CHECK(b->runs().empty());
    CHECK(b->push(reading(7)));  // an empty buffer takes any seq
}

TEST_CASE_TEMPLATE("reading_buffer: reads in seq order from any seq", Kind, memory_kind,
                   file_kind) {
    Kind kind;
    auto b = kind.make(10);
    for (std::uint64_t s = 11; s <= 15; ++s) {
        REQUIRE(b->push(reading(s)));
    }
    CHECK(seqs_from(*b, 1, 11, 10) == seqs{11, 12, 13, 14, 15});
    CHECK(seqs_from(*b, 1, 13, 2) == seqs{13, 14});
    CHECK(seqs_from(*b, 1, 1, 2) == seqs{11, 12});
    CHECK(seqs_from(*b, 1, 16, 5).empty());
    CHECK(seqs_from(*b, 2, 11, 5).empty());  // another boot
    std::vector<buffered_reading> out;
    b->read({.boot = 1, .from_seq = 12, .max_count = 1}, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == reading(12));
}

TEST_CASE_TEMPLATE("reading_buffer: refuses a seq that is not the next one", Kind, memory_kind,
                   file_kind) {
    Kind kind;
    auto b = kind.make(10);
    CHECK_FALSE(b->push(reading(0)));
    CHECK(b->push(reading(1)));
    CHECK_FALSE(b->push(reading(3)));
    CHECK_FALSE(b->push(reading(1)));
    CHECK(b->size() == 1);
}

TEST_CASE_TEMPLATE("reading_buffer: boots queue up as runs, oldest first", Kind, memory_kind,
                   file_kind) {
    Kind kind;
    auto b = kind.make(20);
    for (std::uint64_t s = 4; s <= 6; ++s) {
        REQUIRE(b->push(reading(s, 5)));
    }
    for (std::uint64_t s = 1; s <= 2; ++s) {
        REQUIRE(b->push(reading(s, 9)));  // a new boot starts a run at any seq
    }
    CHECK_FALSE(b->push(reading(7, 5)));  // boot 5 is not the last run any more
    CHECK_FALSE(b->push(reading(1, 5)));
    CHECK(b->push(reading(1, 3)));  // boots need not grow
    CHECK(b->runs() == runs{{5, 4, 6}, {9, 1, 2}, {3, 1, 1}});
    CHECK(seqs_from(*b, 9, 1, 10) == seqs{1, 2});
    CHECK(seqs_from(*b, 5, 5, 10) == seqs{5, 6});
    std::vector<buffered_reading> out;
    b->read({.boot = 9, .from_seq = 2, .max_count = 1}, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == reading(2, 9));
}

TEST_CASE_TEMPLATE("reading_buffer: an ack for a later boot releases the earlier ones", Kind,
                   memory_kind, file_kind) {
    Kind kind;
    auto b = kind.make(20);
    for (std::uint64_t s = 1; s <= 3; ++s) {
        REQUIRE(b->push(reading(s, 5)));
    }
    for (std::uint64_t s = 11; s <= 14; ++s) {
        REQUIRE(b->push(reading(s, 6)));
    }
    REQUIRE(b->push(reading(1, 7)));
    CHECK(b->drop_through({.boot = 6, .seq = 12}) == 5);  // all of boot 5 and boot 6 up to 12
    CHECK(b->runs() == runs{{6, 13, 14}, {7, 1, 1}});
    CHECK(b->drop_through({.boot = 6, .seq = 10}) == 0);  // below the run: nothing
    CHECK(b->drop_through({.boot = 6, .seq = 99}) == 2);  // above the run's last seq: all of it
    CHECK(b->runs() == runs{{7, 1, 1}});
    CHECK(b->drop_through({.boot = 7, .seq = 0}) == 0);
    CHECK(b->size() == 1);
}

TEST_CASE_TEMPLATE("reading_buffer: agrees with a simple model over many operations", Kind,
                   memory_kind, file_kind) {
    Kind kind;
    auto b = kind.make(64);
    std::deque<buffered_reading> model;
    std::mt19937_64 rng(42);
    std::uint64_t boot = 1;
    std::uint64_t next = 1;
    for (int step = 0; step < 600; ++step) {
        const auto dice = rng() % 10;
        if (dice < 6) {
            const auto r = reading(next, boot);
            const bool fits = model.size() < 64;
            REQUIRE(b->push(r) == fits);
            if (fits) {
                model.push_back(r);
                ++next;
            }
        } else if (dice < 9 && !model.empty()) {
            // Ack somewhere within the front boot's readings (or beyond them).
            const auto front = model.front();
            const std::uint64_t seq = front.seq + rng() % 8;
            std::size_t expect = 0;
            while (!model.empty() && model.front().boot == front.boot && model.front().seq <= seq) {
                model.pop_front();
                ++expect;
            }
            REQUIRE(b->drop_through({.boot = front.boot, .seq = seq}) == expect);
        } else {
            ++boot;  // a restart: the next readings are a new boot's
            next = 1 + rng() % 5;
        }
        REQUIRE(b->size() == model.size());
    }
    std::vector<buffered_reading> all;
    for (const auto& run : b->runs()) {
        b->read({.boot = run.boot, .from_seq = run.first_seq, .max_count = run.size()}, all);
    }
    CHECK(std::equal(all.begin(), all.end(), model.begin(), model.end()));
}
