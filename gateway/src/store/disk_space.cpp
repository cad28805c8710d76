#include "store/disk_space.hpp"

#include <sys/statvfs.h>

namespace fogbridge {

std::optional<std::uint64_t> free_bytes_near(const std::filesystem::path& file) {
    std::filesystem::path dir = file.parent_path();
    if (dir.empty()) {
        dir = ".";
    }
    struct statvfs fs {};
    if (statvfs(dir.c_str(), &fs) != 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(fs.f_bavail) * static_cast<std::uint64_t>(fs.f_frsize);
}

}  // namespace fogbridge
