#include "ops/proc_stats.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <fstream>
#include <iterator>
#include <system_error>

namespace fogbridge {
namespace {

// /proc files report a size of 0, so read them as a stream.
std::optional<std::string> read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) return std::nullopt;
    return text;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view skip_spaces(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    return s.substr(i);
}

// Takes the next unsigned decimal token off the front of `s`.
std::optional<std::uint64_t> take_number(std::string_view& s) {
    s = skip_spaces(s);
    std::uint64_t value = 0;
    const auto* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, value);
    if (ec != std::errc{} || (ptr != end && !is_space(*ptr))) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
    return value;
}

void skip_token(std::string_view& s) {
    s = skip_spaces(s);
    std::size_t i = 0;
    while (i < s.size() && !is_space(s[i])) ++i;
    s.remove_prefix(i);
}

std::optional<double> percent(double part, double whole) {
    if (whole <= 0) return std::nullopt;
    return 100.0 * part / whole;
}

}  // namespace

std::optional<std::uint64_t> parse_pid_stat_ticks(std::string_view text) {
    // The command name (field 2) is in parentheses and may hold spaces and ')': fields resume
    // after the last ')'. utime and stime are fields 14 and 15, the 12th and 13th after it.
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = text.substr(close + 1);
    for (int field = 3; field < 14; ++field) {
        if (skip_spaces(rest).empty()) return std::nullopt;
        skip_token(rest);
    }
    const auto utime = take_number(rest);
    const auto stime = take_number(rest);
    if (!utime || !stime) return std::nullopt;
    return *utime + *stime;
}

std::optional<std::uint64_t> parse_kb_field(std::string_view text, std::string_view key) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.size() <= key.size() || line.substr(0, key.size()) != key ||
            line[key.size()] != ':') {
            continue;
        }
        line.remove_prefix(key.size() + 1);
        const auto value = take_number(line);
        if (!value) return std::nullopt;
        const auto unit = skip_spaces(line);
        if (unit.empty()) return *value;  // e.g. HugePages_Total: a count, not kB
        if (unit.substr(0, 2) != "kB") return std::nullopt;
        return *value * 1024;
    }
    return std::nullopt;
}

std::optional<host_cpu_times> parse_host_cpu(std::string_view proc_stat_text) {
    if (proc_stat_text.substr(0, 4) != "cpu " && proc_stat_text.substr(0, 4) != "cpu\t") {
        return std::nullopt;
    }
    std::string_view line = proc_stat_text.substr(3, proc_stat_text.find('\n') - 3);
    // user nice system idle iowait irq softirq steal; guest and guest_nice are already in user
    // and nice. Older kernels stop after idle.
    std::array<std::uint64_t, 8> f{};
    std::size_t n = 0;
    while (n < f.size() && !skip_spaces(line).empty()) {
        const auto v = take_number(line);
        if (!v) return std::nullopt;
        f[n++] = *v;
    }
    if (n < 4) return std::nullopt;
    host_cpu_times t;
    for (const auto v : f) t.total += v;
    t.busy = t.total - f[3] - f[4];  // idle and iowait are not busy
    return t;
}

proc_sampler::proc_sampler(proc_settings settings)
    : settings_(std::move(settings)),
      ticks_per_second_(static_cast<double>(
          settings_.ticks_per_second > 0 ? settings_.ticks_per_second : sysconf(_SC_CLK_TCK))) {}

proc_sample proc_sampler::sample(double now) {
    proc_sample out;
    const auto pid_dir = settings_.root / settings_.pid;

    const auto stat = read_text(pid_dir / "stat");
    const auto ticks = stat ? parse_pid_stat_ticks(*stat) : std::nullopt;
    if (ticks) {
        out.process_cpu_seconds = static_cast<double>(*ticks) / ticks_per_second_;
        if (last_ticks_ && *ticks >= *last_ticks_) {
            out.process_cpu_percent = percent(
                static_cast<double>(*ticks - *last_ticks_) / ticks_per_second_, now - last_now_);
        }
        last_ticks_ = ticks;
        last_now_ = now;
    }

    if (const auto status = read_text(pid_dir / "status")) {
        out.rss_bytes = parse_kb_field(*status, "VmRSS");
        out.peak_rss_bytes = parse_kb_field(*status, "VmHWM");
    }

    const auto host_stat = read_text(settings_.root / "stat");
    const auto host = host_stat ? parse_host_cpu(*host_stat) : std::nullopt;
    if (host) {
        if (last_host_ && host->total >= last_host_->total && host->busy >= last_host_->busy) {
            out.host_cpu_percent = percent(static_cast<double>(host->busy - last_host_->busy),
                                           static_cast<double>(host->total - last_host_->total));
        }
        last_host_ = host;
    }

    if (const auto meminfo = read_text(settings_.root / "meminfo")) {
        out.mem_total_bytes = parse_kb_field(*meminfo, "MemTotal");
        out.mem_available_bytes = parse_kb_field(*meminfo, "MemAvailable");
    }
    return out;
}

std::optional<disk_space> disk_usage(const std::filesystem::path& path) {
    auto stat_of = [](const std::filesystem::path& p) -> std::optional<disk_space> {
        struct statvfs vfs {};
        if (statvfs(p.c_str(), &vfs) != 0) return std::nullopt;
        const std::uint64_t unit = vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize;
        return disk_space{static_cast<std::uint64_t>(vfs.f_bavail) * unit,
                          static_cast<std::uint64_t>(vfs.f_blocks) * unit};
    };
    if (auto d = stat_of(path)) return d;
    auto parent = path.parent_path();
    if (parent.empty()) parent = ".";
    return stat_of(parent);
}

}  // namespace fogbridge
