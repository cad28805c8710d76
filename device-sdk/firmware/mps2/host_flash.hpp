// The emulated board's flash: a host file reached through Arm semihosting, behaving as NOR
// flash (sector erase to 0xFF, programming clears bits only). The file is on the host, so it
// survives QEMU's system_reset as flash survives a board's reset. Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flash_store.hpp"

namespace mps2 {

class host_flash final : public fogbridge::firmware::flash_device {
  public:
    // Opens (or creates) the file and extends it, erased, to sectors * sector_size bytes.
    bool open(const char* path, std::uint32_t sector_size, std::uint32_t sectors);

    std::uint32_t sector_size() const override { return sector_size_; }
    std::uint32_t sectors() const override { return sectors_; }
    bool read(std::uint32_t addr, void* out, std::size_t size) override;
    bool program(std::uint32_t addr, const void* data, std::size_t size) override;
    bool erase(std::uint32_t sector) override;

  private:
    bool in_range(std::uint32_t addr, std::size_t size) const;
    bool fill_erased(std::uint32_t addr, std::uint32_t size);

    int fd_ = -1;
    std::uint32_t sector_size_ = 0;
    std::uint32_t sectors_ = 0;
};

}  // namespace mps2
