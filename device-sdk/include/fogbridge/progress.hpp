// A progress line for long work a person starts (a replay): done / total, percent and rate,
// redrawn in place at most a few times a second, and only on a terminal. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace fogbridge {

struct progress_figures {
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    double elapsed_s = 0.0;
};

// "replay: 1200 / 8143 readings (14.7 %), 5321 readings/s"
std::string format_progress(std::string_view label, const progress_figures& f);

class progress_line final {
  public:
    using clock = std::chrono::steady_clock;
    // Draws one line; `last` ends it. An empty drawer makes the progress_line do nothing.
    using drawer = std::function<void(std::string_view text, bool last)>;

    progress_line(std::string label, std::uint64_t total, drawer draw,
                  clock::time_point start = clock::now(),
                  clock::duration min_interval = std::chrono::milliseconds(250));
    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;
    ~progress_line() { finish(); }

    // Draws when min_interval has passed since the last line (the first after min_interval).
    void update(std::uint64_t done, clock::time_point now = clock::now());
    // Draws the final figure and ends the line, if a line is showing: short work prints nothing.
    void finish(clock::time_point now = clock::now());

  private:
    void draw(clock::time_point now, bool last);

    std::string label_;
    std::uint64_t total_;
    drawer draw_;
    clock::time_point start_;
    clock::duration min_interval_;
    clock::time_point last_drawn_;
    std::uint64_t done_ = 0;
    bool showing_ = false;
};

// Draws in place on stderr when stderr is a terminal; an empty drawer otherwise, so logs and
// tests stay clean.
progress_line::drawer terminal_drawer();

}  // namespace fogbridge
