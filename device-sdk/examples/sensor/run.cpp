#include "run.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "fogbridge/device_client.hpp"
#include "fogbridge/file_buffer.hpp"
#include "fogbridge/progress.hpp"
#include "fogbridge/recording.hpp"
#include "fogbridge/sources.hpp"

namespace fogbridge::sensor {

volatile std::sig_atomic_t stop_signal = 0;

namespace {

using steady = std::chrono::steady_clock;

double wall_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string utc_stamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    std::array<char, 40> text{};
    const std::size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(text.data() + n, text.size() - n, ".%03dZ", static_cast<int>(millis));
    return text.data();
}

std::string number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

// The first line of the file, or "" without a file.
std::string read_passphrase(const std::string& file) {
    if (file.empty()) return {};
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line)) {
        throw std::runtime_error("cannot read the key passphrase from " + file);
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

steady::duration seconds(double s) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
}

std::unique_ptr<reading_buffer> open_buffer_file(const sensor_options& o, const std::string& id,
                                                 std::size_t capacity) {
    file_buffer_settings fs;
    fs.path = o.buffer_file;
    fs.capacity = capacity;
    fs.max_bytes = o.buffer_max_bytes;
    fs.fsync_interval = std::chrono::milliseconds{o.buffer_fsync_ms};
    fs.log = [id](std::string_view line) { log_line(id, line); };
    auto buffer = std::make_unique<file_buffer>(std::move(fs));
    const auto& r = buffer->report();
    std::string line = "buffer file " + o.buffer_file + ": " + std::to_string(r.readings) +
                       " unacknowledged readings in " + std::to_string(r.segments) + " segments";
    if (r.cut_records > 0 || r.bad_segments > 0 || r.discarded > 0) {
        line += "; cut " + std::to_string(r.cut_bytes) + " bytes of " +
                std::to_string(r.cut_records) + " torn records and " +
                std::to_string(r.bad_segments) + " bad segments, " + std::to_string(r.discarded) +
                " readings out of order dropped";
    }
    log_line(id, line);
    return buffer;
}

device_settings make_settings(const sensor_options& o) {
    device_settings s;
    s.device_id = o.id;
    s.host = o.host;
    s.port = o.port;
    s.tls = device_tls_settings{o.ca_file, o.cert_file, o.key_file,
                                read_passphrase(o.key_passphrase_file)};
    s.keepalive = std::chrono::seconds{o.keepalive};
    s.boot_file = o.boot_file;
    s.buffer_capacity = o.buffer;
    s.max_in_flight = o.max_in_flight;
    s.max_readings_per_message = o.per_message;
    s.resend_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(o.resend_timeout));
    s.health_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(o.health_interval));
    s.read_board_health = [root = o.sysfs_root] {
        return board_health{read_battery_capacity(root), std::nullopt};
    };
    const std::string id = o.id;
    s.log = [id](std::string_view line) { log_line(id, line); };
    if (!o.buffer_file.empty()) {
        s.make_buffer = [o, id](std::size_t capacity) { return open_buffer_file(o, id, capacity); };
    }
    return s;
}

// "<boot> <seq>" per reading the buffer took, appended as it is taken. Not synced: it survives a
// killed process (what an audit needs for a boot that printed no summary), not a power loss.
class journal final {
  public:
    explicit journal(const std::string& path) {
        if (path.empty()) return;
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw std::runtime_error("cannot open the journal " + path);
    }
    ~journal() {
        if (fd_ >= 0) ::close(fd_);
    }
    journal(const journal&) = delete;
    journal& operator=(const journal&) = delete;

    void note(std::uint64_t boot, std::uint64_t seq) const {
        if (fd_ < 0) return;
        const std::string line = std::to_string(boot) + " " + std::to_string(seq) + "\n";
        // One write with O_APPEND: a line is whole or absent.
        if (::write(fd_, line.data(), line.size()) < 0) return;
    }

  private:
    int fd_ = -1;
};

class runner final {
  public:
    runner(const sensor_options& options, device_client& client)
        : o_(options), client_(client), journal_(options.journal), started_(steady::now()) {}

    // Returns why the loop ended.
    std::string run() {
        switch (o_.source) {
            case source_kind::simulated:
                return simulated();
            case source_kind::replay:
                return replay();
            case source_kind::sysfs:
                return sysfs();
        }
        return "unknown source";
    }

  private:
    bool count_reached() const { return o_.count > 0 && produced_ >= o_.count; }

    bool should_stop() const {
        return stop_signal != 0 || count_reached() ||
               (o_.duration > 0 && steady::now() - started_ >= seconds(o_.duration));
    }

    std::string stop_reason(std::string done) const {
        if (stop_signal != 0) {
            return "signal";
        }
        if (count_reached()) {
            return "count reached";
        }
        if (o_.duration > 0 && steady::now() - started_ >= seconds(o_.duration)) {
            return "duration reached";
        }
        return done;
    }

    // Sleeps until `when` unless the program should stop first; false then.
    bool sleep_until(steady::time_point when) {
        while (!should_stop()) {
            const auto now = steady::now();
            if (now >= when) {
                return true;
            }
            std::this_thread::sleep_for(
                std::min<steady::duration>(when - now, std::chrono::milliseconds{100}));
        }
        return false;
    }

    void emit(const std::string& sensor, double value, const std::string& unit, double ts) {
        const bool stepped =
            o_.clock_step_after >= 0 && steady::now() - started_ >= seconds(o_.clock_step_after);
        if (!stepped) ts += o_.clock_offset;
        const auto result = client_.publish(sensor, value, unit, ts);
        ++produced_;
        // A boot's seqs count from 1 in the order the buffer takes its readings.
        if (result == publish_result::queued) {
            journal_.note(client_.boot(), client_.counters().published);
        }
        if (result == publish_result::invalid) {
            log_line(o_.id, "invalid reading " + sensor + "=" + number(value) + " refused");
        } else if (o_.verbose) {
            log_line(o_.id, "reading " + sensor + "=" + number(value) +
                                (unit.empty() ? "" : " " + unit) + " " +
                                std::string(to_string(result)));
        }
    }

    std::string simulated() {
        simulated_source source(simulated_settings{o_.seed, default_simulated_sensors()});
        const auto period = seconds(1.0 / o_.rate);
        auto next = steady::now();
        while (!should_stop()) {
            for (const auto& r : source.sample(wall_now())) {
                if (should_stop()) {
                    break;
                }
                emit(r.sensor, r.value, r.unit, r.ts);
            }
            next += period;
            if (!sleep_until(next)) {
                break;
            }
        }
        return stop_reason("stopped");
    }

    std::string replay() {
        const recording rec = read_recording(o_.file, o_.format);
        if (rec.rows == 0) {
            const std::string why = rec.errors.empty() ? "no data rows" : rec.errors[0].reason;
            throw std::runtime_error("replay " + o_.file + ": " + why);
        }
        log_line(o_.id, "replaying " + o_.file + " (" + std::string(to_string(rec.format)) + ", " +
                            std::to_string(rec.rows) + " rows, " +
                            std::to_string(rec.channels.size()) + " channels, " +
                            std::to_string(rec.missing()) + " missing values, " +
                            std::to_string(rec.error_count) + " bad rows)");
        for (std::size_t i = 0; i < std::min<std::size_t>(rec.errors.size(), 5); ++i) {
            log_line(o_.id,
                     "line " + std::to_string(rec.errors[i].line) + ": " + rec.errors[i].reason);
        }
        const auto events = merge_channels(rec);
        if (events.empty()) {
            throw std::runtime_error("replay " + o_.file + ": no samples");
        }
        const double first_ts = events.front().ts;
        const double shift = o_.start_now ? wall_now() - first_ts : 0.0;
        progress_line progress("fogbridge-sensor[" + o_.id + "]: replay", events.size(),
                               terminal_drawer());
        std::uint64_t replayed = 0;
        for (const auto& e : events) {
            if (should_stop()) {
                break;
            }
            if (o_.speed > 0) {
                if (!sleep_until(started_ + seconds((e.ts - first_ts) / o_.speed))) {
                    break;
                }
            } else if (!wait_for_room()) {
                break;
            }
            const auto& c = rec.channels[e.channel];
            emit(c.name, e.value, c.unit, e.ts + shift);
            progress.update(++replayed);
        }
        progress.finish();
        return stop_reason("end of recording");
    }

    // As fast as the buffer allows: wait while it is full instead of losing readings.
    bool wait_for_room() {
        while (client_.buffered() >= o_.buffer) {
            if (should_stop()) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{5});
        }
        return true;
    }

    std::string sysfs() {
        sysfs_source source(sysfs_settings{o_.sysfs_root});
        if (source.channels().empty()) {
            throw std::runtime_error("no IIO or thermal sensors under " + o_.sysfs_root);
        }
        for (const auto& c : source.channels()) {
            log_line(o_.id, "sensor " + c.sensor + " <- " + c.file.string());
        }
        auto next = steady::now();
        while (!should_stop()) {
            const auto sample = source.sample(wall_now());
            for (const auto& error : sample.errors) {
                log_line(o_.id, error);
            }
            for (const auto& r : sample.readings) {
                if (should_stop()) {
                    break;
                }
                emit(r.sensor, r.value, r.unit, r.ts);
            }
            next += seconds(o_.interval);
            if (!sleep_until(next)) {
                break;
            }
        }
        return stop_reason("stopped");
    }

    const sensor_options& o_;
    device_client& client_;
    journal journal_;
    steady::time_point started_;
    std::uint64_t produced_ = 0;
};

}  // namespace

// NOLINTNEXTLINE(bugprone-easily-swappable-parameters): a log line; every call passes the id first
void log_line(std::string_view id, std::string_view text) {
    // On a terminal a log line first erases a progress line being drawn; it comes back.
    static const bool terminal = isatty(STDERR_FILENO) != 0;
    std::string line = terminal ? "\r\033[K" : "";
    line += utc_stamp() + " fogbridge-sensor[" + std::string(id) + "]: ";
    line += text;
    line += '\n';
    std::fputs(line.c_str(), stderr);
}

int run_sensor(const sensor_options& o) {
    device_client client(make_settings(o));
    for (const auto& rule : o.alerts) {
        client.add_alert_rule(rule, [id = o.id](const alert_event& a) {
            const std::string text = "ALERT " + a.sensor + " " + number(a.value) + " " +
                                     std::string(to_string(a.direction)) + " " +
                                     number(a.threshold);
            std::cout << text << std::endl;
            log_line(id, text);
        });
    }
    log_line(o.id, "starting: boot " + std::to_string(client.boot()) + ", broker " + o.host + ":" +
                       std::to_string(o.port) + (o.ca_file.empty() ? "" : " (TLS)"));
    client.start();
    runner loop(o, client);
    const std::string reason = loop.run();
    log_line(o.id, "stopping (" + reason + "): flushing " + std::to_string(client.buffered()) +
                       " unacknowledged readings");
    const bool flushed = client.flush(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(o.flush_timeout)));
    if (!flushed) {
        log_line(o.id, "flush timed out with " + std::to_string(client.buffered()) +
                           " readings unacknowledged");
    }
    client.stop();
    const auto c = client.counters();
    std::cout << "fogbridge-sensor: id=" << o.id << " boot=" << client.boot()
              << " published=" << c.published << " recovered=" << c.recovered
              << " acked=" << c.acked << " buffered=" << client.buffered()
              << " buffer_full=" << c.buffer_full << " invalid=" << c.invalid << " sent=" << c.sent
              << " resent=" << c.resent << " reconnects=" << c.reconnects << " alerts=" << c.alerts
              << " flushed=" << (flushed ? "yes" : "no") << std::endl;
    return 0;
}

}  // namespace fogbridge::sensor
