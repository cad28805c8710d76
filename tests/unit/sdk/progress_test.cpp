// The progress line: its text, how often it draws, and that short work draws nothing.
#include "fogbridge/progress.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using fogbridge::progress_line;

namespace {

struct recorder {
    std::vector<std::pair<std::string, bool>> lines;
    progress_line::drawer drawer() {
        return [this](std::string_view text, bool last) { lines.emplace_back(text, last); };
    }
};

}  // namespace

TEST_CASE("progress: done / total, percent and rate") {
    CHECK(fogbridge::format_progress("replay", {.done = 1200, .total = 8143, .elapsed_s = 2.0}) ==
          "replay: 1200 / 8143 readings (14.7 %), 600 readings/s");
    CHECK(fogbridge::format_progress("x", {.done = 0, .total = 0, .elapsed_s = 0.0}) ==
          "x: 0 / 0 readings (0.0 %), 0 readings/s");
}

TEST_CASE("progress: draws at most once per interval and ends the line once") {
    recorder r;
    const progress_line::clock::time_point t0{};
    {
        progress_line line("replay", 1000, r.drawer(), t0, 250ms);
        line.update(10, t0 + 100ms);  // too soon after the start
        line.update(100, t0 + 250ms);
        line.update(150, t0 + 400ms);  // too soon after the last line
        line.update(500, t0 + 500ms);
        line.update(1000, t0 + 600ms);
        line.finish(t0 + 1s);
        line.finish(t0 + 2s);  // already ended; the destructor adds nothing either
    }
    REQUIRE(r.lines.size() == 3);
    CHECK(r.lines[0] == std::pair<std::string, bool>{
                            "replay: 100 / 1000 readings (10.0 %), 400 readings/s", false});
    CHECK(r.lines[1].first == "replay: 500 / 1000 readings (50.0 %), 1000 readings/s");
    CHECK(r.lines[2] == std::pair<std::string, bool>{
                            "replay: 1000 / 1000 readings (100.0 %), 1000 readings/s", true});
}

TEST_CASE("progress: short work and an empty drawer print nothing") {
    recorder r;
    const progress_line::clock::time_point t0{};
    {
        progress_line line("replay", 10, r.drawer(), t0, 250ms);
        line.update(10, t0 + 10ms);
        line.finish(t0 + 20ms);
    }
    CHECK(r.lines.empty());
    progress_line silent("replay", 10, {}, t0, 0ms);
    silent.update(5, t0 + 1s);
    silent.finish(t0 + 2s);
}
