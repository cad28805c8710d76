#include "fogbridge/boot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include "text.hpp"

namespace fogbridge {
namespace {

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
    throw std::runtime_error("boot file " + file.string() + ": " + what);
}

std::string errno_text() { return std::strerror(errno); }

std::uint64_t read_counter(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        if (ec) {
            fail(file, ec.message());
        }
        return 0;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        fail(file, "cannot read: " + errno_text());
    }
    std::ostringstream content;
    content << in.rdbuf();
    const std::string text = content.str();
    const std::string_view digits = detail::trim(text);
    if (digits.empty()) {
        return 0;
    }
    std::uint64_t value = 0;
    const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (err != std::errc{} || ptr != digits.data() + digits.size()) {
        fail(file, "expected a decimal counter, found '" + std::string(digits.substr(0, 40)) + "'");
    }
    return value;
}

void write_all(int fd, const std::string& text, const std::filesystem::path& tmp) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(tmp, "cannot write: " + errno_text());
        }
        done += static_cast<std::size_t>(n);
    }
}

void write_counter(const std::filesystem::path& file, std::uint64_t value) {
    const std::filesystem::path tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail(tmp, "cannot create: " + errno_text());
    }
    try {
        write_all(fd, std::to_string(value) + "\n", tmp);
        if (::fsync(fd) != 0) {
            fail(tmp, "fsync failed: " + errno_text());
        }
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    if (std::rename(tmp.c_str(), file.c_str()) != 0) {
        fail(file, "cannot rename " + tmp.string() + ": " + errno_text());
    }
    // The rename itself must reach the disk, or a power cut could bring back the old counter.
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

}  // namespace

std::uint64_t next_boot_from_file(const std::filesystem::path& file) {
    const std::uint64_t previous = read_counter(file);
    if (previous >= max_boot) {
        fail(file, "counter " + std::to_string(previous) + " is at its limit (2^53 - 1)");
    }
    const std::uint64_t boot = previous + 1;
    write_counter(file, boot);
    return boot;
}

std::uint64_t random_boot() {
    std::random_device device;
    const std::uint64_t high = device();
    const std::uint64_t low = device();
    const std::uint64_t value = ((high << 32U) ^ low) & max_boot;
    return value == 0 ? 1 : value;
}

}  // namespace fogbridge
