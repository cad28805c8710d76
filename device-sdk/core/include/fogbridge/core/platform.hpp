// What a board supplies to the portable device core: time, entropy, one byte stream to the broker
// and, optionally, storage for the boot counter. Called only from device::poll() and publish().
#pragma once

#include <cstddef>
#include <cstdint>

namespace fogbridge::core {

class platform {
  public:
    // Milliseconds since the board booted; never goes back. Readings carry it as "up".
    virtual std::uint64_t monotonic_ms() = 0;
    // Milliseconds since the epoch (UTC), when the board knows the time; false otherwise.
    virtual bool wall_ms(std::int64_t& out) {
        (void)out;
        return false;
    }
    // 32 random bits (a hardware RNG where there is one): backoff jitter and random boot ids.
    virtual std::uint32_t random32() = 0;

    // Starts a connection to the broker (TCP, TLS or a UART wired to one); false when it cannot
    // start now, and the core tries again after a backoff.
    virtual bool open() = 0;
    virtual void close() = 0;
    // Bytes written, maybe fewer than asked (0 when it would block); negative: connection lost.
    virtual int write(const std::uint8_t* data, std::size_t size) = 0;
    // Bytes read (0 when none are waiting); negative: connection lost.
    virtual int read(std::uint8_t* data, std::size_t size) = 0;

    // Persistent boot counter (a flash page, NVS, a file). Without one, each boot gets a random id.
    virtual bool load_boot(std::uint64_t& out) {
        (void)out;
        return false;
    }
    virtual bool save_boot(std::uint64_t boot) {
        (void)boot;
        return false;
    }

    // One line about a connection event; nothing by default.
    virtual void log(const char* line) { (void)line; }

  protected:
    ~platform() = default;  // not deleted through this interface: no operator delete needed
};

}  // namespace fogbridge::core
