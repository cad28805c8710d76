#include <doctest/doctest.h>
#include <sys/statvfs.h>

#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <fstream>
#include <string>

#include "ops/proc_stats.hpp"

namespace fs = std::filesystem;
using fogbridge::proc_sampler;

namespace {

class fake_proc {
  public:
    fake_proc() {
        std::string pattern = (fs::temp_directory_path() / "fogbridge-proc-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        root_ = pattern;
        fs::create_directories(root_ / "self");
    }
    ~fake_proc() {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    fake_proc(const fake_proc&) = delete;
    fake_proc& operator=(const fake_proc&) = delete;

    void write(const std::string& name, const std::string& text) const {
        std::ofstream(root_ / name, std::ios::binary | std::ios::trunc) << text;
    }
    void process(int utime, int stime) const {
        // The command name holds a space and a ')' to exercise the parser.
        write("self/stat", "4242 (fog bridge) x) S 1 4242 4242 0 -1 4194560 812 0 0 0 " +
                               std::to_string(utime) + " " + std::to_string(stime) +
                               " 0 0 20 0 3 0 1234 104857600 2560 18446744073709551615\n");
    }
    void host(const std::string& cpu_line) const {
        write("stat", cpu_line + "\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 12345\nctxt 999\n");
    }
    const fs::path& root() const { return root_; }

  private:
    fs::path root_;
};

}  // namespace

TEST_CASE("proc_sampler reads process and host figures and derives percentages") {
    fake_proc p;
    p.process(250, 50);
    p.write("self/status",
            "Name:\tfogbridge\nVmPeak:\t  300000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
            "Threads:\t5\n");
    p.host("cpu  100 0 100 700 100 0 0 0 0 0");
    p.write("meminfo",
            "MemTotal:        2048000 kB\nMemFree:          512000 kB\n"
            "MemAvailable:    1024000 kB\nHugePages_Total:       0\n");

    proc_sampler sampler({p.root(), "self", 100});
    const auto first = sampler.sample(10.0);
    CHECK(first.process_cpu_seconds == 3.0);
    CHECK_FALSE(first.process_cpu_percent.has_value());
    CHECK(first.rss_bytes == 10240ULL * 1024);
    CHECK(first.peak_rss_bytes == 20480ULL * 1024);
    CHECK_FALSE(first.host_cpu_percent.has_value());
    CHECK(first.mem_total_bytes == 2048000ULL * 1024);
    CHECK(first.mem_available_bytes == 1024000ULL * 1024);

    // 1.2 s of CPU in 2 s of wall time; the host was busy 150 of 500 jiffies.
    p.process(350, 70);
    p.host("cpu  200 0 150 1000 150 0 0 0 0 0");
    const auto second = sampler.sample(12.0);
    CHECK(second.process_cpu_seconds == doctest::Approx(4.2));
    REQUIRE(second.process_cpu_percent.has_value());
    CHECK(*second.process_cpu_percent == doctest::Approx(60.0));
    REQUIRE(second.host_cpu_percent.has_value());
    CHECK(*second.host_cpu_percent == 30.0);
}

TEST_CASE("proc_sampler leaves figures empty when files are missing or malformed") {
    fake_proc p;
    p.write("self/stat", "4242 (short) S 1 2\n");
    p.write("meminfo", "MemTotal: lots\n");
    proc_sampler sampler({p.root(), "self", 100});
    const auto s = sampler.sample(1.0);
    CHECK_FALSE(s.process_cpu_seconds.has_value());
    CHECK_FALSE(s.rss_bytes.has_value());
    CHECK_FALSE(s.host_cpu_percent.has_value());
    CHECK_FALSE(s.mem_total_bytes.has_value());
    CHECK_FALSE(s.mem_available_bytes.has_value());
}

TEST_CASE("proc_sampler gives no percentage when no time passed or counters went back") {
    fake_proc p;
    p.process(100, 0);
    p.host("cpu  10 0 10 80");  // an old kernel: four fields
    proc_sampler sampler({p.root(), "self", 100});
    sampler.sample(5.0);
    const auto same_time = sampler.sample(5.0);
    CHECK_FALSE(same_time.process_cpu_percent.has_value());
    CHECK_FALSE(same_time.host_cpu_percent.has_value());  // no jiffies passed

    p.process(50, 0);
    p.host("cpu  5 0 5 40");
    const auto back = sampler.sample(6.0);
    CHECK_FALSE(back.process_cpu_percent.has_value());
    CHECK_FALSE(back.host_cpu_percent.has_value());
    p.host("cpu  15 0 5 50");
    CHECK(sampler.sample(7.0).host_cpu_percent == 50.0);
}

TEST_CASE("/proc parsers") {
    using namespace fogbridge;
    CHECK(parse_pid_stat_ticks("1 (a) S 0 0 0 0 0 0 0 0 0 0 7 8 0") == 15U);
    CHECK_FALSE(parse_pid_stat_ticks("no parenthesis 1 2 3").has_value());
    CHECK_FALSE(parse_pid_stat_ticks("1 (a) S 0 0 0 0 0 0 0 0 0 0 x 8 0").has_value());
    CHECK(parse_kb_field("VmRSS:\t 4 kB\n", "VmRSS") == 4096U);
    CHECK(parse_kb_field("VmRSSX: 1 kB\nVmRSS: 2 kB", "VmRSS") == 2048U);
    CHECK_FALSE(parse_kb_field("VmRSS: 2 MB\n", "VmRSS").has_value());
    CHECK_FALSE(parse_kb_field("Other: 2 kB\n", "VmRSS").has_value());
    const auto t = parse_host_cpu("cpu  1 2 3 4 5 6 7 8 9 10\n");
    REQUIRE(t.has_value());
    CHECK(t->total == 36U);  // guest and guest_nice are already counted in user and nice
    CHECK(t->busy == 27U);
    CHECK_FALSE(parse_host_cpu("cpu0 1 2 3 4\n").has_value());
    CHECK_FALSE(parse_host_cpu("cpu  1 2 3\n").has_value());
}

TEST_CASE("proc_sampler on the real /proc sees this process") {
    proc_sampler sampler;
    const auto s = sampler.sample(0.0);
    REQUIRE(s.rss_bytes.has_value());
    CHECK(*s.rss_bytes > 0U);
    CHECK(s.process_cpu_seconds.has_value());
    CHECK(s.mem_total_bytes.has_value());
}

TEST_CASE("disk_usage reports the file system of a path, or of its parent") {
    fake_proc p;
    struct statvfs vfs {};
    REQUIRE(statvfs(p.root().c_str(), &vfs) == 0);
    const auto d = fogbridge::disk_usage(p.root());
    REQUIRE(d.has_value());
    CHECK(d->total_bytes == static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize);
    CHECK(d->free_bytes <= d->total_bytes);
    const auto not_yet = fogbridge::disk_usage(p.root() / "store.db");
    REQUIRE(not_yet.has_value());
    CHECK(not_yet->total_bytes == d->total_bytes);
    CHECK_FALSE(fogbridge::disk_usage(p.root() / "missing" / "store.db").has_value());
}
