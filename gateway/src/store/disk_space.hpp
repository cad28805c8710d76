// Free space on the filesystem that holds a file. Thread-safe (a system call).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

namespace fogbridge {

// Bytes an unprivileged process may still write next to `file` (statvfs f_bavail * f_frsize);
// nullopt when the filesystem cannot be asked.
std::optional<std::uint64_t> free_bytes_near(const std::filesystem::path& file);

}  // namespace fogbridge
