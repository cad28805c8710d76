// Boot ids: a persisted counter file, or a random id where nothing persists. Thread-safe (no
// state).
#pragma once

#include <cstdint>
#include <filesystem>

namespace fogbridge {

// JSON readers keep integers exact only below 2^53.
inline constexpr std::uint64_t max_boot = (std::uint64_t{1} << 53) - 1;

// Reads n from `file` (0 when the file does not exist), writes n + 1 atomically (temp file,
// fsync, rename, fsync of the directory) and returns n + 1. Throws std::runtime_error with one
// clear line when the file holds something else or cannot be written (a start-up error).
std::uint64_t next_boot_from_file(const std::filesystem::path& file);

// A random id in [1, 2^53).
std::uint64_t random_boot();

}  // namespace fogbridge
