#include "board.hpp"

#include <cstring>

extern "C" {
extern std::uint32_t __stack_top;
void reset_handler();
void fault_handler();
}

namespace {

// CMSDK APB timer 0, free-running down from 2^32 - 1 at the 25 MHz peripheral clock. Reading
// its counter keeps time even when the host is too busy to deliver every timer interrupt, which
// an interrupt-counting tick (SysTick) under QEMU on a loaded machine does not.
struct cmsdk_timer {
    volatile std::uint32_t ctrl;  // bit 0: enable
    volatile std::uint32_t value;
    volatile std::uint32_t reload;
    volatile std::uint32_t intstatus;
};
auto* const timer0 = reinterpret_cast<cmsdk_timer*>(0x40000000u);
std::uint32_t timer_last = 0;
std::uint64_t timer_ticks = 0;

struct cmsdk_uart {
    volatile std::uint32_t data;
    volatile std::uint32_t state;  // bit 0: TX full, bit 1: RX full
    volatile std::uint32_t ctrl;   // bit 0: TX enable, bit 1: RX enable
    volatile std::uint32_t intstatus;
    volatile std::uint32_t bauddiv;
};
auto* const uart0 = reinterpret_cast<cmsdk_uart*>(0x40004000u);

constexpr std::uint32_t cpu_hz = 25000000;  // MPS2 FPGA system clock

int semihost(int op, const void* arg) {
    register int r0 __asm__("r0") = op;
    register const void* r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

}  // namespace

extern "C" void fault_handler() {
    mps2::host_write("fault\n");
    mps2::host_exit(3);
}

// Called by startup.c once memory is set up.
extern "C" void board_start() {
    timer0->reload = 0xFFFFFFFFu;
    timer0->value = 0xFFFFFFFFu;
    timer0->ctrl = 1;
    timer_last = timer0->value;
}

using handler = void (*)();
__attribute__((section(".vectors"), used)) const handler vectors[16] = {
    reinterpret_cast<handler>(&__stack_top),
    reset_handler,
    fault_handler,  // NMI
    fault_handler,  // HardFault
    fault_handler,  // MemManage
    fault_handler,  // BusFault
    fault_handler,  // UsageFault
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    fault_handler,  // SVC
    fault_handler,  // DebugMon
    nullptr,
    fault_handler,  // PendSV
    fault_handler,  // SysTick: unused
};

namespace mps2 {

std::uint64_t millis() {
    // Called from the main loop only, far more often than the counter wraps (every 171 s).
    const std::uint32_t now = timer0->value;
    timer_ticks += timer_last - now;
    timer_last = now;
    return timer_ticks / (cpu_hz / 1000);
}

void uart_init() {
    uart0->bauddiv = 16;
    uart0->ctrl = 3;
}

bool uart_put(std::uint8_t byte) {
    if ((uart0->state & 1u) != 0) {
        return false;
    }
    uart0->data = byte;
    return true;
}

bool uart_get(std::uint8_t& byte) {
    if ((uart0->state & 2u) == 0) {
        return false;
    }
    byte = static_cast<std::uint8_t>(uart0->data);
    return true;
}

void host_write(const char* text) { semihost(0x04, text); }  // SYS_WRITE0

std::uint32_t host_time() {
    return static_cast<std::uint32_t>(semihost(0x11, nullptr));
}  // SYS_TIME

std::uint32_t host_clock() { return static_cast<std::uint32_t>(semihost(0x10, nullptr)); }

bool host_elapsed(std::uint64_t& ticks) {
    std::uint32_t block[2] = {0, 0};
    if (semihost(0x30, block) != 0) {
        return false;
    }
    ticks = static_cast<std::uint64_t>(block[1]) << 32 | block[0];
    return true;
}

std::size_t host_cmdline(char* out, std::size_t n) {
    std::uint32_t block[2] = {reinterpret_cast<std::uint32_t>(out), static_cast<std::uint32_t>(n)};
    if (semihost(0x15, block) != 0) {  // SYS_GET_CMDLINE
        return 0;
    }
    return block[1];
}

int host_open(const char* path, int mode) {
    const std::uint32_t block[3] = {reinterpret_cast<std::uint32_t>(path),
                                    static_cast<std::uint32_t>(mode),
                                    static_cast<std::uint32_t>(std::strlen(path))};
    return semihost(0x01, block);  // SYS_OPEN
}

bool host_seek(int fd, std::uint32_t offset) {
    const std::uint32_t block[2] = {static_cast<std::uint32_t>(fd), offset};
    return semihost(0x0A, block) == 0;  // SYS_SEEK
}

// SYS_READ and SYS_WRITE return how many bytes were NOT transferred.
bool host_read(int fd, void* out, std::size_t n) {
    const std::uint32_t block[3] = {static_cast<std::uint32_t>(fd),
                                    reinterpret_cast<std::uint32_t>(out),
                                    static_cast<std::uint32_t>(n)};
    return semihost(0x06, block) == 0;
}

bool host_write(int fd, const void* data, std::size_t n) {
    const std::uint32_t block[3] = {static_cast<std::uint32_t>(fd),
                                    reinterpret_cast<std::uint32_t>(data),
                                    static_cast<std::uint32_t>(n)};
    return semihost(0x05, block) == 0;
}

long host_length(int fd) {
    const std::uint32_t block[1] = {static_cast<std::uint32_t>(fd)};
    return semihost(0x0C, block);  // SYS_FLEN
}

void host_exit(int code) {
    // SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with the exit code.
    const std::uint32_t block[2] = {0x20026u, static_cast<std::uint32_t>(code)};
    for (;;) {
        semihost(0x20, block);
    }
}

}  // namespace mps2

extern "C" void mps2_exit(int code) { mps2::host_exit(code); }
