#include "fogbridge/file_buffer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include "buffer_format.hpp"
#include "fogbridge/protocol.hpp"

namespace fogbridge {
namespace {

namespace fs = std::filesystem;

// The content of `path` itself; a prefix of it is a creation cut short and is rewritten.
constexpr std::string_view lock_file_text = "fogbridge reading buffer 1\n";
constexpr std::size_t index_digits = 10;

std::string errno_text() { return std::strerror(errno); }

[[noreturn]] void open_error(const fs::path& path, const std::string& what) {
    throw std::runtime_error("buffer file " + path.string() + ": " + what);
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool sync_fd(int fd) {
    while (::fdatasync(fd) != 0) {
        if (errno != EINTR) {
            return false;
        }
    }
    return true;
}

// A new directory entry is durable only once the directory itself is synced.
bool sync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The index of a segment file name `<stem>.<10 digits>`, else nullopt.
std::optional<std::uint64_t> segment_index(const std::string& name, const std::string& stem) {
    if (name.size() != stem.size() + 1 + index_digits || name.compare(0, stem.size(), stem) != 0 ||
        name[stem.size()] != '.') {
        return std::nullopt;
    }
    std::uint64_t index = 0;
    for (std::size_t i = stem.size() + 1; i < name.size(); ++i) {
        if (name[i] < '0' || name[i] > '9') {
            return std::nullopt;
        }
        index = index * 10 + static_cast<std::uint64_t>(name[i] - '0');
    }
    return index;
}

}  // namespace

file_buffer::file_buffer(file_buffer_settings settings) : settings_(std::move(settings)) {
    if (settings_.path.empty() || !settings_.path.has_filename()) {
        throw std::runtime_error("buffer file: the path must name a file");
    }
    if (settings_.capacity == 0) {
        open_error(settings_.path, "capacity must be > 0");
    }
    if (settings_.max_bytes < 4 * (detail::segment_header_bytes + detail::max_record_bytes)) {
        open_error(settings_.path, "max_bytes is too small to hold a reading");
    }
    settings_.segment_bytes = std::clamp<std::uint64_t>(
        settings_.segment_bytes, detail::segment_header_bytes + detail::max_record_bytes,
        settings_.max_bytes / 4);
    open_lock_file();
    try {
        load();
    } catch (...) {
        ::close(lock_fd_);
        throw;
    }
}

file_buffer::~file_buffer() {
    if (unsynced_) {
        sync();
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
    ::close(lock_fd_);  // releases the lock
}

void file_buffer::open_lock_file() {
    const fs::path& path = settings_.path;
    std::error_code ec;
    if (path.has_parent_path()) {
        fs::create_directories(path.parent_path(), ec);
        if (ec) {
            open_error(path, "cannot create its directory: " + ec.message());
        }
    }
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
        open_error(path, "cannot open: " + errno_text());
    }
    // The kernel drops the lock when the program dies, however it dies.
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const std::string why =
            errno == EWOULDBLOCK ? "in use by another program" : "cannot lock: " + errno_text();
        ::close(lock_fd_);
        open_error(path, why);
    }
    const std::string text = read_file(path);
    if (text == lock_file_text) {
        return;
    }
    if (!lock_file_text.starts_with(text)) {
        ::close(lock_fd_);
        open_error(path, "exists and is not a fogbridge reading buffer");
    }
    if (::ftruncate(lock_fd_, 0) != 0 ||
        ::pwrite(lock_fd_, lock_file_text.data(), lock_file_text.size(), 0) < 0 ||
        !sync_fd(lock_fd_) ||
        !sync_directory(path.parent_path().empty() ? "." : path.parent_path())) {
        const std::string why = errno_text();
        ::close(lock_fd_);
        open_error(path, "cannot write: " + why);
    }
}

fs::path file_buffer::segment_path(std::uint64_t index) const {
    std::string digits = std::to_string(index);
    digits.insert(0, index_digits - std::min(index_digits, digits.size()), '0');
    fs::path p = settings_.path;
    p += "." + digits;
    return p;
}

void file_buffer::load() {
    const fs::path dir = settings_.path.has_parent_path() ? settings_.path.parent_path() : ".";
    const std::string stem = settings_.path.filename().string();
    std::vector<std::uint64_t> indices;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (const auto index = segment_index(entry.path().filename().string(), stem)) {
            indices.push_back(*index);
        }
    }
    if (ec) {
        open_error(settings_.path, "cannot list " + dir.string() + ": " + ec.message());
    }
    std::sort(indices.begin(), indices.end());
    for (std::size_t i = 0; i < indices.size(); ++i) {
        load_segment(indices[i], i + 1 == indices.size());
    }
    report_.segments = indices.size();
    report_.readings = queue_.size();
    report_.runs = queue_.runs();
    const std::uint64_t next = indices.empty() ? 1 : indices.back() + 1;
    if (!start_segment(next)) {
        open_error(segment_path(next), "cannot create: " + errno_text());
    }
    remove_dead_segments();
}

void file_buffer::load_segment(std::uint64_t index, bool last) {
    const fs::path path = segment_path(index);
    const std::string data = read_file(path);
    if (!detail::valid_segment_header(data, index)) {
        // A header cut short is a segment created just before power was lost; anything else
        // is damage. Either way nothing in it can be trusted.
        if (!(last && data.size() < detail::segment_header_bytes)) {
            ++report_.bad_segments;
        }
        report_.cut_bytes += data.size();
        std::error_code ec;
        fs::remove(path, ec);
        return;
    }
    segment seg{index, data.size(), 0};
    segments_.push_back(seg);
    std::size_t offset = detail::segment_header_bytes;
    while (offset < data.size()) {
        std::size_t used = 0;
        const auto record = detail::decode_record(data, offset, used);
        if (!record) {
            break;
        }
        offset += used;
        if (const auto* r = std::get_if<buffered_reading>(&*record)) {
            if (queue_.push(*r)) {
                ++segments_.back().live;
            } else {
                ++report_.discarded;
            }
        } else {
            const auto& release = std::get<detail::release_record>(*record);
            apply_release(queue_.drop_through({.boot = release.boot, .seq = release.seq}));
        }
    }
    if (offset < data.size()) {
        // A torn write: cut it off so that later appends follow the last good record.
        ++report_.cut_records;
        report_.cut_bytes += data.size() - offset;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(offset)) != 0 || !sync_fd(fd)) {
            if (fd >= 0) {
                ::close(fd);
            }
            open_error(path, "cannot cut off a torn record: " + errno_text());
        }
        ::close(fd);
        segments_.back().bytes = offset;
    }
    if (offset == detail::segment_header_bytes) {
        // Nothing in it (a start without readings): no reason to keep it.
        segments_.pop_back();
        std::error_code ec;
        fs::remove(path, ec);
        return;
    }
    total_bytes_ += segments_.back().bytes;
}

void file_buffer::apply_release(std::size_t released) {
    // Releases take readings from the front, and segments hold them in order.
    for (auto& seg : segments_) {
        if (released == 0) {
            break;
        }
        const std::size_t n = std::min(released, seg.live);
        seg.live -= n;
        released -= n;
    }
}

bool file_buffer::start_segment(std::uint64_t index) {
    const fs::path path = segment_path(index);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    const std::string header = detail::encode_segment_header(index);
    const fs::path dir = settings_.path.has_parent_path() ? settings_.path.parent_path() : ".";
    if (!write_all(fd, header) || !sync_fd(fd) || !sync_directory(dir)) {
        const int saved = errno;
        ::close(fd);
        std::error_code ec;
        fs::remove(path, ec);
        errno = saved;
        return false;
    }
    ++fsyncs_;
    if (fd_ >= 0) {
        // The segment being closed is complete on disk before anything goes into the next one.
        if (unsynced_) {
            sync();
        }
        ::close(fd_);
    }
    fd_ = fd;
    segments_.push_back(segment{index, header.size(), 0});
    total_bytes_ += header.size();
    return true;
}

bool file_buffer::full() const {
    return queue_.size() >= settings_.capacity ||
           total_bytes_ + detail::segment_header_bytes + detail::max_record_bytes >
               settings_.max_bytes;
}

bool file_buffer::push(buffered_reading reading) {
    // What could not be read back is refused (the session validates before this).
    if (full() || !valid_sensor_name(reading.sensor) || !valid_unit(reading.unit) ||
        !std::isfinite(reading.value) || !std::isfinite(reading.ts)) {
        return false;
    }
    if (!queue_.accepts(reading)) {
        return false;  // checked first: nothing is written for a reading the queue refuses
    }
    const std::string record = detail::encode_record(reading);
    if (segments_.back().bytes + record.size() > settings_.segment_bytes &&
        segments_.back().bytes > detail::segment_header_bytes) {
        if (!start_segment(segments_.back().index + 1)) {
            fail("cannot start segment " + segment_path(segments_.back().index + 1).string() +
                 ": " + errno_text());
        }
        remove_dead_segments();
    }
    if (!append(record)) {
        return false;
    }
    queue_.push(std::move(reading));
    ++segments_.back().live;
    unsynced_readings_ = true;
    if (settings_.fsync_interval.count() == 0) {
        sync();
    }
    return true;
}

std::size_t file_buffer::drop_through(const reading_id& through) {
    const std::uint64_t boot = through.boot;
    const std::size_t released = queue_.drop_through(through);
    if (released == 0) {
        return 0;
    }
    append(detail::encode_record(detail::release_record{boot, through.seq}));
    apply_release(released);
    if (!queue_.holds(boot) && !queue_.empty()) {
        // A boot's last readings were acknowledged and the next boot's go out now: this must
        // not be forgotten, or after a power loss the old boot's readings would come back while
        // the gateway's retained ack already names the next boot, and nothing would ack them.
        sync();
    }
    remove_dead_segments();
    return released;
}

std::size_t file_buffer::read(const read_request& req, std::vector<buffered_reading>& out) const {
    return queue_.read(req, out);
}

std::optional<reading_buffer::time_point> file_buffer::sync_deadline() const {
    if (!unsynced_readings_) {
        return std::nullopt;
    }
    return last_sync_ + settings_.fsync_interval;
}

void file_buffer::sync_due(time_point now) {
    if (unsynced_readings_ && now >= last_sync_ + settings_.fsync_interval) {
        sync();
        last_sync_ = now;
    }
}

void file_buffer::sync() {
    if (fd_ < 0) {
        return;
    }
    if (sync_fd(fd_)) {
        ++fsyncs_;
    } else {
        fail("fsync of " + segment_path(segments_.back().index).string() + ": " + errno_text());
    }
    unsynced_ = false;
    unsynced_readings_ = false;
}

bool file_buffer::append(const std::string& record) {
    auto& seg = segments_.back();
    if (!write_all(fd_, record)) {
        const std::string why = errno_text();
        // Take back a partial record, so the next one follows the last good one.
        if (::ftruncate(fd_, static_cast<off_t>(seg.bytes)) != 0) {
            fail("cannot take back a partial write: " + errno_text());
        }
        fail("write to " + segment_path(seg.index).string() + ": " + why);
        return false;
    }
    seg.bytes += record.size();
    total_bytes_ += record.size();
    unsynced_ = true;
    return true;
}

void file_buffer::remove_dead_segments() {
    // Segments whose readings are all acknowledged go, oldest first, never the one appended to.
    std::size_t dead = 0;
    while (dead + 1 < segments_.size() && segments_[dead].live == 0) {
        ++dead;
    }
    if (dead == 0) {
        return;
    }
    // The releases that cover them must be on disk first: a removal can be undone by a power
    // loss (the directory is not synced), and must then come back with its releases.
    if (unsynced_) {
        sync();
    }
    for (std::size_t i = 0; i < dead; ++i) {
        std::error_code ec;
        fs::remove(segment_path(segments_[i].index), ec);
        if (ec) {
            fail("cannot remove " + segment_path(segments_[i].index).string() + ": " +
                 ec.message());
        }
        total_bytes_ -= segments_[i].bytes;
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(dead));
}

void file_buffer::fail(const std::string& what) {
    ++io_errors_;
    if (settings_.log) {
        settings_.log("buffer file: " + what);
    }
}

}  // namespace fogbridge
