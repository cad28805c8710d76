// The emulated MPS2 board (QEMU mps2-an385/an386): a millisecond clock, UART0 and Arm
// semihosting to the host (console, wall clock, command line, exit). Bare metal, single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mps2 {

// Milliseconds since reset (CMSDK timer 0); call it at least every two minutes.
std::uint64_t millis();

// UART0 (CMSDK APB UART): QEMU connects it to a TCP port with -serial tcp:HOST:PORT.
void uart_init();
bool uart_put(std::uint8_t byte);   // false when the transmit register is full
bool uart_get(std::uint8_t& byte);  // false when nothing was received

// Semihosting: only under a debugger or QEMU's -semihosting.
void host_write(const char* text);                   // to QEMU's stdout
std::uint32_t host_time();                           // seconds since the epoch
std::uint32_t host_clock();                          // host centiseconds (SYS_CLOCK)
bool host_elapsed(std::uint64_t& ticks);             // host ticks (SYS_ELAPSED)
std::size_t host_cmdline(char* out, std::size_t n);  // QEMU's -append text
[[noreturn]] void host_exit(int code);

// Host files (SYS_OPEN and friends): the board's "flash" lives in one, so it survives a reset.
int host_open(const char* path, int mode);  // fopen modes as 0..11 ("r+b" 3, "w+b" 7); -1
bool host_seek(int fd, std::uint32_t offset);
bool host_read(int fd, void* out, std::size_t n);          // all n bytes, or false
bool host_write(int fd, const void* data, std::size_t n);  // all n bytes, or false
long host_length(int fd);                                  // -1 on error

}  // namespace mps2
