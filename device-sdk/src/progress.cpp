#include "fogbridge/progress.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>

namespace fogbridge {

std::string format_progress(std::string_view label, const progress_figures& f) {
    const std::uint64_t done = f.done;
    const std::uint64_t total = f.total;
    const double elapsed_s = f.elapsed_s;
    const double pct =
        total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0;
    const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
    std::array<char, 128> figures{};
    std::snprintf(
        figures.data(), figures.size(), ": %llu / %llu readings (%.1f %%), %.0f readings/s",
        static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), pct, rate);
    return std::string(label) + figures.data();
}

progress_line::progress_line(std::string label, std::uint64_t total, drawer draw,
                             clock::time_point start, clock::duration min_interval)
    : label_(std::move(label)),
      total_(total),
      draw_(std::move(draw)),
      start_(start),
      min_interval_(min_interval),
      last_drawn_(start) {}

void progress_line::update(std::uint64_t done, clock::time_point now) {
    done_ = done;
    if (draw_ && now - last_drawn_ >= min_interval_) {
        draw(now, false);
    }
}

void progress_line::finish(clock::time_point now) {
    if (showing_) {
        draw(now, true);
        showing_ = false;
    }
}

void progress_line::draw(clock::time_point now, bool last) {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    draw_(format_progress(label_, {.done = done_, .total = total_, .elapsed_s = elapsed}), last);
    last_drawn_ = now;
    showing_ = true;
}

progress_line::drawer terminal_drawer() {
    if (isatty(STDERR_FILENO) == 0) {
        return {};
    }
    return [](std::string_view text, bool last) {
        std::string line = "\r";
        line += text;
        line += "\033[K";  // erase what a longer line left
        if (last) {
            line += '\n';
        }
        std::fputs(line.c_str(), stderr);
        std::fflush(stderr);
    };
}

}  // namespace fogbridge
