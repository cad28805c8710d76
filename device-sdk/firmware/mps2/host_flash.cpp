#include "host_flash.hpp"

#include <cstring>

#include "board.hpp"

namespace mps2 {

bool host_flash::open(const char* path, std::uint32_t sector_size, std::uint32_t sectors) {
    fd_ = host_open(path, 3);  // "r+b": an existing flash image
    if (fd_ < 0) {
        fd_ = host_open(path, 7);  // "w+b": a new one
    }
    if (fd_ < 0) {
        return false;
    }
    sector_size_ = sector_size;
    sectors_ = sectors;
    const long have = host_length(fd_);
    const std::uint32_t want = sector_size * sectors;
    if (have < 0) {
        return false;
    }
    const auto from = static_cast<std::uint32_t>(have);
    return from >= want || fill_erased(from, want - from);
}

bool host_flash::in_range(std::uint32_t addr, std::size_t size) const {
    return fd_ >= 0 && addr <= sector_size_ * sectors_ && size <= sector_size_ * sectors_ - addr;
}

bool host_flash::fill_erased(std::uint32_t addr, std::uint32_t size) {
    std::uint8_t ff[256];
    std::memset(ff, 0xFF, sizeof ff);
    if (!host_seek(fd_, addr)) {
        return false;
    }
    for (std::uint32_t done = 0; done < size; done += sizeof ff) {
        const std::uint32_t n = size - done < sizeof ff ? size - done : sizeof ff;
        if (!host_write(fd_, ff, n)) {
            return false;
        }
    }
    return true;
}

bool host_flash::read(std::uint32_t addr, void* out, std::size_t size) {
    return in_range(addr, size) && host_seek(fd_, addr) && host_read(fd_, out, size);
}

bool host_flash::program(std::uint32_t addr, const void* data, std::size_t size) {
    // Flash clears bits and never sets them: the result is the old contents AND the new.
    std::uint8_t chunk[64];
    const auto* in = static_cast<const std::uint8_t*>(data);
    for (std::size_t done = 0; done < size; done += sizeof chunk) {
        const std::size_t n = size - done < sizeof chunk ? size - done : sizeof chunk;
        const auto at = addr + static_cast<std::uint32_t>(done);
        if (!read(at, chunk, n)) {
            return false;
        }
        for (std::size_t i = 0; i < n; ++i) {
            chunk[i] &= in[done + i];
        }
        if (!host_seek(fd_, at) || !host_write(fd_, chunk, n)) {
            return false;
        }
    }
    return true;
}

bool host_flash::erase(std::uint32_t sector) {
    return sector < sectors_ && fill_erased(sector * sector_size_, sector_size_);
}

}  // namespace mps2
