// One contract for every reading_buffer implementation (memory now, a file-backed one later).
#include "fogbridge/buffer.hpp"

#include <doctest/doctest.h>

#include <vector>

using fogbridge::buffered_reading;
using fogbridge::memory_buffer;

namespace {

buffered_reading reading(std::uint64_t seq) {
    return buffered_reading{seq, "temperature", 20.0 + static_cast<double>(seq), "C",
                            1000.0 + static_cast<double>(seq)};
}

template <class Buffer>
std::vector<std::uint64_t> seqs_from(const Buffer& b, std::uint64_t from, std::size_t max) {
    std::vector<buffered_reading> out;
    b.read(from, max, out);
    std::vector<std::uint64_t> seqs;
    for (const auto& r : out) {
        seqs.push_back(r.seq);
    }
    return seqs;
}

}  // namespace

TEST_CASE_TEMPLATE("reading_buffer: accepts until full, then refuses", Buffer, memory_buffer) {
    Buffer b(3);
    CHECK(b.empty());
    CHECK(b.push(reading(1)));
    CHECK(b.push(reading(2)));
    CHECK(b.push(reading(3)));
    CHECK(b.full());
    CHECK_FALSE(b.push(reading(4)));
    CHECK(b.size() == 3);
    CHECK(b.first_seq() == 1);
    CHECK(b.last_seq() == 3);
}

TEST_CASE_TEMPLATE("reading_buffer: an ack drops everything up to its seq", Buffer, memory_buffer) {
    Buffer b(5);
    for (std::uint64_t s = 1; s <= 5; ++s) {
        REQUIRE(b.push(reading(s)));
    }
    CHECK(b.drop_through(2) == 2);  // partial ack
    CHECK(b.size() == 3);
    CHECK(b.first_seq() == 3);
    CHECK(b.drop_through(2) == 0);  // the same ack again
    CHECK(b.push(reading(6)));      // room again after the ack
    CHECK(b.drop_through(6) == 4);
    CHECK(b.empty());
    CHECK_FALSE(b.first_seq().has_value());
    CHECK(b.push(reading(7)));
}

TEST_CASE_TEMPLATE("reading_buffer: reads in seq order from any seq", Buffer, memory_buffer) {
    Buffer b(10);
    for (std::uint64_t s = 11; s <= 15; ++s) {
        REQUIRE(b.push(reading(s)));
    }
    CHECK(seqs_from(b, 11, 10) == std::vector<std::uint64_t>{11, 12, 13, 14, 15});
    CHECK(seqs_from(b, 13, 2) == std::vector<std::uint64_t>{13, 14});
    CHECK(seqs_from(b, 1, 2) == std::vector<std::uint64_t>{11, 12});
    CHECK(seqs_from(b, 16, 5).empty());
    std::vector<buffered_reading> out;
    b.read(12, 1, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == reading(12));
}

TEST_CASE_TEMPLATE("reading_buffer: refuses a seq that is not the next one", Buffer,
                   memory_buffer) {
    Buffer b(10);
    CHECK(b.push(reading(1)));
    CHECK_FALSE(b.push(reading(3)));
    CHECK_FALSE(b.push(reading(1)));
    CHECK(b.size() == 1);
}
