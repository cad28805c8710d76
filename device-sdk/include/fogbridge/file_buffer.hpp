// A reading_buffer kept in append-only segment files, so unacknowledged readings survive a crash
// of the board program and (with fsync) a power loss; reloaded on the next start. Not
// thread-safe (the owner locks). Format and policies: device-sdk/README.md, "File buffer".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fogbridge/buffer.hpp"

namespace fogbridge {

struct file_buffer_settings {
    // The buffer's own small file, locked while open; segments are `<path>.<10-digit index>`
    // beside it. Missing directories are created.
    std::filesystem::path path;
    std::size_t capacity = 10000;                   // unacknowledged readings
    std::uint64_t max_bytes = 16ULL * 1024 * 1024;  // all segment files together
    std::uint64_t segment_bytes = 1024ULL * 1024;   // at most max_bytes / 4
    // 0: every reading is fsynced before push() returns. N: at most one fsync per N ms; a power
    // loss can take the readings of the last N ms (a crash of the program cannot: they are in
    // the kernel's page cache). Fewer fsyncs mean fewer flash page writes.
    std::chrono::milliseconds fsync_interval{0};
    // I/O errors after opening (a write or fsync failed); empty: silent.
    std::function<void(std::string_view line)> log;
};

// What opening found.
struct file_buffer_report {
    std::size_t segments = 0;        // segment files read
    std::size_t readings = 0;        // unacknowledged readings reloaded
    std::vector<buffered_run> runs;  // those, oldest first
    std::size_t cut_records = 0;     // records that failed their check; the file was cut there
    std::uint64_t cut_bytes = 0;     // bytes cut off there (a torn write at power loss)
    std::size_t bad_segments = 0;    // segment files without a valid header, removed
    std::size_t discarded = 0;       // readings dropped: a cut left a hole in their boot's seqs
};

class file_buffer final : public reading_buffer {
  public:
    // Opens or creates the buffer and reloads what was not acknowledged. Throws
    // std::runtime_error with one line when another program holds it, `path` is not a
    // fogbridge buffer, or the directory cannot be written.
    explicit file_buffer(file_buffer_settings settings);
    ~file_buffer() override;
    file_buffer(const file_buffer&) = delete;
    file_buffer& operator=(const file_buffer&) = delete;

    std::size_t capacity() const override { return settings_.capacity; }
    std::size_t size() const override { return queue_.size(); }
    bool full() const override;
    bool push(buffered_reading reading) override;
    std::size_t drop_through(const reading_id& through) override;
    std::size_t read(const read_request& req, std::vector<buffered_reading>& out) const override;
    std::vector<buffered_run> runs() const override { return queue_.runs(); }
    std::optional<buffered_run> front_run() const override { return queue_.front_run(); }
    std::optional<time_point> sync_deadline() const override;
    void sync_due(time_point now) override;

    const file_buffer_report& report() const { return report_; }
    std::uint64_t bytes() const { return total_bytes_; }  // all segment files
    std::size_t segment_count() const { return segments_.size(); }
    std::uint64_t fsyncs() const { return fsyncs_; }
    std::uint64_t io_errors() const { return io_errors_; }
    // fsyncs whatever was written and not yet synced.
    void sync();

  private:
    struct segment {
        std::uint64_t index = 0;
        std::uint64_t bytes = 0;
        std::size_t live = 0;  // readings in it not yet acknowledged
    };

    void open_lock_file();
    void load();
    void load_segment(std::uint64_t index, bool last);
    void apply_release(std::size_t released);
    bool start_segment(std::uint64_t index);
    bool append(const std::string& record);
    void remove_dead_segments();
    std::filesystem::path segment_path(std::uint64_t index) const;
    void fail(const std::string& what);

    file_buffer_settings settings_;
    file_buffer_report report_;
    reading_queue queue_;
    std::vector<segment> segments_;  // oldest first; the last is the one appended to
    std::uint64_t total_bytes_ = 0;
    int lock_fd_ = -1;
    int fd_ = -1;                     // the last segment, append-only
    bool unsynced_ = false;           // something written since the last fsync
    bool unsynced_readings_ = false;  // readings among it (release records can wait)
    time_point last_sync_{};
    std::uint64_t fsyncs_ = 0;
    std::uint64_t io_errors_ = 0;
};

}  // namespace fogbridge
