// Process and host figures from /proc (CPU, memory) and statvfs (disk). The /proc root is a
// setting so tests can point it at a fake tree. Not thread-safe: one owner samples.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace fogbridge {

struct proc_settings {
    std::filesystem::path root = "/proc";
    std::string pid = "self";   // the process to watch, a directory under root
    long ticks_per_second = 0;  // clock ticks of /proc/<pid>/stat; 0 = sysconf(_SC_CLK_TCK)
};

// Every figure is optional: a file that is missing or malformed leaves its figures empty.
struct proc_sample {
    std::optional<double> process_cpu_seconds;    // utime + stime since the process started
    std::optional<double> process_cpu_percent;    // since the previous sample; 100 = one core
    std::optional<std::uint64_t> rss_bytes;       // VmRSS
    std::optional<std::uint64_t> peak_rss_bytes;  // VmHWM
    std::optional<double> host_cpu_percent;  // all cores busy since the previous sample, 0..100
    std::optional<std::uint64_t> mem_total_bytes;      // MemTotal
    std::optional<std::uint64_t> mem_available_bytes;  // MemAvailable
};

// Busy and total jiffies of the aggregate "cpu" line of /proc/stat.
struct host_cpu_times {
    std::uint64_t busy = 0;
    std::uint64_t total = 0;
};

// Parsers of single /proc files; std::nullopt when the text is not what they expect.
// utime + stime in clock ticks, from the text of /proc/<pid>/stat.
std::optional<std::uint64_t> parse_pid_stat_ticks(std::string_view text);
// A "Key:   123 kB" field of /proc/<pid>/status or /proc/meminfo, in bytes.
std::optional<std::uint64_t> parse_kb_field(std::string_view text, std::string_view key);
std::optional<host_cpu_times> parse_host_cpu(std::string_view proc_stat_text);

class proc_sampler final {
  public:
    explicit proc_sampler(proc_settings settings = {});

    // `now` is a monotonic time in seconds; it only serves the process CPU percentage.
    proc_sample sample(double now);

  private:
    proc_settings settings_;
    double ticks_per_second_;
    std::optional<std::uint64_t> last_ticks_;
    double last_now_ = 0;
    std::optional<host_cpu_times> last_host_;
};

struct disk_space {
    std::uint64_t free_bytes = 0;  // available to an unprivileged writer (f_bavail)
    std::uint64_t total_bytes = 0;

    bool operator==(const disk_space&) const = default;
};

// Space of the file system holding `path`; if `path` does not exist yet (a store not created
// yet), that of its parent directory. std::nullopt when neither can be examined.
std::optional<disk_space> disk_usage(const std::filesystem::path& path);

}  // namespace fogbridge
