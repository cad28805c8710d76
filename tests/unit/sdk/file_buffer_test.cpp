// file_buffer beyond the common contract (buffer_test.cpp): what survives a restart, torn and
// corrupt files, segments, byte limits, fsync policy, the lock.
#include "fogbridge/file_buffer.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fogbridge::buffered_reading;
using fogbridge::buffered_run;
using fogbridge::file_buffer;
using fogbridge::file_buffer_settings;

namespace {

using fogbridge::test::temp_dir;

using runs = std::vector<buffered_run>;

constexpr std::size_t header_bytes = 20;
// A reading record of reading(): 8 head + 1 + 8 + 8 + 8 + 8 + 1 + 11 ("temperature") + 1 + 1.
constexpr std::size_t reading_bytes = 55;
constexpr std::size_t release_bytes = 8 + 17;

buffered_reading reading(std::uint64_t seq, std::uint64_t boot = 1) {
    return buffered_reading{boot,          seq,
                            "temperature", 20.0 + static_cast<double>(seq) / 8,
                            "C",           1732630000.123 + static_cast<double>(seq)};
}

file_buffer_settings settings_in(const temp_dir& dir) {
    file_buffer_settings s;
    s.path = dir.path / "sub" / "d1.buf";
    s.capacity = 100;
    s.fsync_interval = 60s;
    return s;
}

std::vector<buffered_reading> everything(const file_buffer& b) {
    std::vector<buffered_reading> out;
    for (const auto& run : b.runs()) {
        b.read({.boot = run.boot, .from_seq = run.first_seq, .max_count = run.size()}, out);
    }
    return out;
}

// Segment files beside the buffer, oldest first.
std::vector<fs::path> segment_files(const file_buffer_settings& s) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(s.path.parent_path())) {
        if (e.path().filename() != s.path.filename()) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::uintmax_t bytes_on_disk(const file_buffer_settings& s) {
    std::uintmax_t total = 0;
    for (const auto& p : segment_files(s)) {
        total += fs::file_size(p);
    }
    return total;
}

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

void fill(file_buffer& b, std::uint64_t first, std::uint64_t last, std::uint64_t boot = 1) {
    for (std::uint64_t s = first; s <= last; ++s) {
        REQUIRE(b.push(reading(s, boot)));
    }
}

}  // namespace

TEST_CASE("file_buffer: unacknowledged readings come back after a restart, exactly") {
    temp_dir dir;
    const auto s = settings_in(dir);
    {
        file_buffer b(s);
        CHECK(b.report().readings == 0);
        fill(b, 1, 5);
        REQUIRE(b.push(buffered_reading{1, 6, "occupancy", 1.0, "", 0.5}));  // no unit
        CHECK(b.drop_through({.boot = 1, .seq = 2}) == 2);
    }
    file_buffer b(s);
    CHECK(b.report().readings == 4);
    CHECK(b.report().runs == runs{{1, 3, 6}});
    CHECK(b.report().cut_records == 0);
    const auto got = everything(b);
    REQUIRE(got.size() == 4);
    CHECK(got[0] == reading(3));
    CHECK(got[2] == reading(5));
    CHECK(got[3] == buffered_reading{1, 6, "occupancy", 1.0, "", 0.5});
    // The next boot's readings queue up behind; an ack of theirs releases boot 1 for good.
    fill(b, 1, 2, 2);
    CHECK(b.drop_through({.boot = 2, .seq = 1}) == 5);
    CHECK(b.runs() == runs{{2, 2, 2}});
}

TEST_CASE("file_buffer: a reading's up (seconds since boot) survives a restart") {
    temp_dir dir;
    const auto s = settings_in(dir);
    auto with_up = reading(1);
    with_up.up = 12.345;
    {
        file_buffer b(s);
        REQUIRE(b.push(with_up));
        REQUIRE(b.push(reading(2)));  // without up: the older record kind, still read
    }
    file_buffer b(s);
    const auto got = everything(b);
    REQUIRE(got.size() == 2);
    CHECK(got[0] == with_up);
    CHECK(got[0].up == 12.345);
    CHECK_FALSE(got[1].up.has_value());
}

TEST_CASE("file_buffer: a release survives a restart, and so does an ack of a later boot") {
    temp_dir dir;
    const auto s = settings_in(dir);
    {
        file_buffer b(s);
        fill(b, 1, 3, 4);
        fill(b, 1, 3, 5);
        CHECK(b.drop_through({.boot = 5, .seq = 1}) == 4);
    }
    {
        file_buffer b(s);
        CHECK(b.runs() == runs{{5, 2, 3}});
        CHECK(b.drop_through({.boot = 5, .seq = 3}) == 2);
    }
    file_buffer b(s);
    CHECK(b.empty());
    CHECK(b.report().readings == 0);
}

TEST_CASE("file_buffer: readings written before a crash of the program are not lost") {
    temp_dir dir;
    const auto s = settings_in(dir);  // no fsync for 60 s: only the page cache holds them
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        auto* b = new file_buffer(s);  // never destroyed: no final fsync, no cleanup
        bool ok = true;
        for (std::uint64_t seq = 1; seq <= 3; ++seq) {
            ok = ok && b->push(reading(seq));
        }
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    file_buffer b(s);  // the lock died with the child
    CHECK(b.runs() == runs{{1, 1, 3}});
}

TEST_CASE("file_buffer: a torn record at the end is cut off, never misread") {
    temp_dir dir;
    const auto s = settings_in(dir);
    {
        file_buffer b(s);
        fill(b, 1, 3);
    }
    const auto last = segment_files(s).back();
    const std::string good = read_bytes(last);
    REQUIRE(good.size() == header_bytes + 3 * reading_bytes);

    SUBCASE("a record cut short") {
        write_bytes(last, good.substr(0, good.size() - 7));
        file_buffer b(s);
        CHECK(b.runs() == runs{{1, 1, 2}});
        CHECK(b.report().cut_records == 1);
        CHECK(b.report().cut_bytes == reading_bytes - 7);
    }
    SUBCASE("zeros after the last record (a file extended but not written)") {
        write_bytes(last, good + std::string(512, '\0'));
        file_buffer b(s);
        CHECK(b.runs() == runs{{1, 1, 3}});
        CHECK(b.report().cut_bytes == 512);
    }
    SUBCASE("a flipped bit in the last record") {
        std::string bad = good;
        bad[bad.size() - 10] = static_cast<char>(bad[bad.size() - 10] ^ 0x04);
        write_bytes(last, bad);
        file_buffer b(s);
        CHECK(b.runs() == runs{{1, 1, 2}});
        CHECK(b.report().cut_records == 1);
    }
    // Cut back to the good records, so appends go on from there.
    CHECK(fs::file_size(last) <= header_bytes + 3 * reading_bytes);
    {
        file_buffer b(s);
        CHECK(b.report().cut_records == 0);
        const auto held = b.runs().front().last_seq;
        REQUIRE(b.push(reading(held + 1)));
    }
    file_buffer b(s);
    CHECK(b.report().cut_records == 0);
    CHECK(b.size() == b.runs().front().size());
}

TEST_CASE(
    "file_buffer: damage in an older segment cuts it there and drops what would leave a hole") {
    temp_dir dir;
    auto s = settings_in(dir);
    s.segment_bytes = header_bytes + 2 * reading_bytes;  // two readings per segment
    {
        file_buffer b(s);
        fill(b, 1, 4);  // seqs 1-2 in the first segment, 3-4 in the second
        fill(b, 1, 1, 2);
    }
    const auto first = segment_files(s).front();
    std::string data = read_bytes(first);
    data[header_bytes + reading_bytes + 12] = 'x';  // inside seq 2
    write_bytes(first, data);
    file_buffer b(s);
    CHECK(b.report().cut_records == 1);
    CHECK(b.report().discarded == 2);               // seqs 3 and 4: boot 1 would have a hole
    CHECK(b.runs() == runs{{1, 1, 1}, {2, 1, 1}});  // boot 2 is whole
}

TEST_CASE("file_buffer: a segment without a valid header is removed and reported") {
    temp_dir dir;
    auto s = settings_in(dir);
    {
        file_buffer b(s);
        fill(b, 1, 2);
    }
    const auto seg = segment_files(s).front();
    std::string data = read_bytes(seg);
    data[0] = 'X';
    write_bytes(seg, data);
    file_buffer b(s);
    CHECK(b.report().bad_segments == 1);
    CHECK(b.empty());
    CHECK_FALSE(fs::exists(seg));
}

TEST_CASE("file_buffer: full segments roll over and go once all their readings are acked") {
    temp_dir dir;
    auto s = settings_in(dir);
    s.segment_bytes = header_bytes + 3 * reading_bytes;
    file_buffer b(s);
    fill(b, 1, 7);  // segments: 1-3, 4-6, 7
    CHECK(b.segment_count() == 3);
    CHECK(b.bytes() == bytes_on_disk(s));
    const auto files = segment_files(s);
    REQUIRE(files.size() == 3);
    const auto second_before = read_bytes(files[1]);

    CHECK(b.drop_through({.boot = 1, .seq = 2}) == 2);  // the first segment still holds seq 3
    CHECK(b.segment_count() == 3);
    CHECK(fs::file_size(files.back()) == header_bytes + reading_bytes + release_bytes);
    CHECK(b.drop_through({.boot = 1, .seq = 4}) ==
          2);  // now the first goes; the second is not rewritten
    CHECK(b.segment_count() == 2);
    CHECK_FALSE(fs::exists(files[0]));
    CHECK(read_bytes(files[1]) == second_before);
    CHECK(b.drop_through({.boot = 1, .seq = 7}) ==
          3);  // all acked: only the segment appended to stays
    CHECK(b.segment_count() == 1);
    CHECK(segment_files(s) == std::vector<fs::path>{files[2]});
    CHECK(b.bytes() == bytes_on_disk(s));
}

TEST_CASE("file_buffer: bounded by max_bytes as well as by readings") {
    temp_dir dir;
    auto s = settings_in(dir);
    s.capacity = 1000;
    s.max_bytes = 2000;
    s.segment_bytes = 500;
    file_buffer b(s);
    std::uint64_t seq = 0;
    while (b.push(reading(seq + 1))) {
        ++seq;
    }
    CHECK(b.full());
    CHECK(seq > 20);
    CHECK(b.bytes() <= s.max_bytes);
    CHECK(bytes_on_disk(s) == b.bytes());
    CHECK(b.drop_through({.boot = 1, .seq = seq}) == seq);
    CHECK_FALSE(b.full());
    CHECK(b.push(reading(seq + 1)));
    CHECK(b.bytes() <= s.segment_bytes + reading_bytes);
}

TEST_CASE("file_buffer: fsync every reading, or at most one per interval") {
    temp_dir dir;
    auto s = settings_in(dir);
    const fogbridge::reading_buffer::time_point t0{};
    SUBCASE("every reading") {
        s.fsync_interval = 0ms;
        file_buffer b(s);
        const auto before = b.fsyncs();
        fill(b, 1, 3);
        CHECK(b.fsyncs() == before + 3);
        CHECK_FALSE(b.sync_deadline().has_value());
        CHECK(b.drop_through({.boot = 1, .seq = 3}) ==
              3);  // a release alone waits for the next fsync
        CHECK(b.fsyncs() == before + 3);
    }
    SUBCASE("an interval") {
        s.fsync_interval = 100ms;
        file_buffer b(s);
        const auto before = b.fsyncs();
        CHECK_FALSE(b.sync_deadline().has_value());
        fill(b, 1, 2);
        CHECK(b.fsyncs() == before);
        CHECK(b.sync_deadline() == t0 + 100ms);  // never synced: due at once
        b.sync_due(t0 + 5s);
        CHECK(b.fsyncs() == before + 1);
        CHECK_FALSE(b.sync_deadline().has_value());
        fill(b, 3, 3);
        CHECK(b.sync_deadline() == t0 + 5s + 100ms);
        b.sync_due(t0 + 5s + 99ms);
        CHECK(b.fsyncs() == before + 1);
        b.sync_due(t0 + 5s + 100ms);
        CHECK(b.fsyncs() == before + 2);
    }
}

TEST_CASE("file_buffer: acking the last reading of a boot while a later boot waits is synced") {
    temp_dir dir;
    auto s = settings_in(dir);
    file_buffer b(s);
    fill(b, 1, 2, 1);
    fill(b, 1, 1, 2);
    const auto before = b.fsyncs();
    CHECK(b.drop_through({.boot = 1, .seq = 1}) == 1);
    CHECK(b.fsyncs() == before);
    CHECK(b.drop_through({.boot = 1, .seq = 2}) == 1);  // boot 1 is done and boot 2 goes out next
    CHECK(b.fsyncs() == before + 1);
}

TEST_CASE("file_buffer: one program at a time; a foreign file is never taken over") {
    temp_dir dir;
    const auto s = settings_in(dir);
    {
        file_buffer b(s);
        CHECK_THROWS_WITH_AS(file_buffer{s}, doctest::Contains("in use by another program"),
                             std::runtime_error);
    }
    file_buffer again(s);  // the lock went with the first
    auto other = s;
    other.path = dir.path / "notes.txt";
    write_bytes(other.path, "my notes\n");
    CHECK_THROWS_WITH_AS(file_buffer{other}, doctest::Contains("not a fogbridge reading buffer"),
                         std::runtime_error);
    CHECK(read_bytes(other.path) == "my notes\n");
}

TEST_CASE("file_buffer: the longest names and odd values read back exactly") {
    temp_dir dir;
    const auto s = settings_in(dir);
    const buffered_reading big{9007199254740991, 18446744073709551615ULL, std::string(64, 's'),
                               -1e-300,          std::string(32, 'u'),    4102444800.999};
    {
        file_buffer b(s);
        REQUIRE(b.push(big));
        CHECK_FALSE(b.push(buffered_reading{1, 1, std::string(65, 's'), 1.0, "", 1.0}));
    }
    file_buffer b(s);
    const auto got = everything(b);
    REQUIRE(got.size() == 1);
    CHECK(got[0] == big);
}
