// Reference firmware for the emulated MPS2 board: samples a simulated temperature sensor,
// publishes through the portable device core, raises a threshold alert. UART0 carries the MQTT
// bytes (QEMU wires it to the broker's TCP port); semihosting gives the console, the wall clock
// and the settings, passed as QEMU's -append "id=... user=... pass=... readings=N rate=HZ".
// With flash=PATH the readings wait for their ack in a flash log kept in that host file, so a
// reset loses none; without it, in a RAM ring.
#include <cstring>

#include "board.hpp"
#include "flash_store.hpp"
#include "fogbridge/core/device.hpp"
#include "host_flash.hpp"

namespace core = fogbridge::core;
namespace fw = fogbridge::firmware;

namespace {

struct settings {
    const char* id = "mcu-01";
    const char* user = nullptr;
    const char* pass = nullptr;
    std::uint32_t readings = 0;  // per boot; 0: no end
    std::uint32_t rate_hz = 10;
    bool wall = true;  // take the wall clock from the host; off: ts 0, like a board without RTC
    std::uint16_t keepalive_s = 5;
    const char* flash = nullptr;  // host file standing for the board's flash
};

char cmdline[256];

std::uint32_t to_u32(const char* s) {
    std::uint32_t v = 0;
    for (; *s >= '0' && *s <= '9'; ++s) {
        v = v * 10 + static_cast<std::uint32_t>(*s - '0');
    }
    return v;
}

settings parse_cmdline() {
    settings s;
    const std::size_t n = mps2::host_cmdline(cmdline, sizeof cmdline - 1);
    cmdline[n < sizeof cmdline ? n : sizeof cmdline - 1] = '\0';
    // Words split in place (strtok would pull in newlib's reentrancy, malloc and printf).
    for (char* next = cmdline; *next != '\0';) {
        char* word = next;
        while (*next != '\0' && *next != ' ') {
            ++next;
        }
        if (*next == ' ') {
            *next++ = '\0';
        }
        char* eq = std::strchr(word, '=');
        if (eq == nullptr) {
            continue;
        }
        *eq = '\0';
        const char* v = eq + 1;
        if (std::strcmp(word, "id") == 0) {
            s.id = v;
        } else if (std::strcmp(word, "user") == 0) {
            s.user = v;
        } else if (std::strcmp(word, "pass") == 0) {
            s.pass = v;
        } else if (std::strcmp(word, "readings") == 0) {
            s.readings = to_u32(v);
        } else if (std::strcmp(word, "rate") == 0) {
            s.rate_hz = to_u32(v) > 0 ? to_u32(v) : 1;
        } else if (std::strcmp(word, "wall") == 0) {
            s.wall = to_u32(v) != 0;
        } else if (std::strcmp(word, "flash") == 0) {
            s.flash = v;
        } else if (std::strcmp(word, "keepalive") == 0) {
            s.keepalive_s = static_cast<std::uint16_t>(to_u32(v));
        }
    }
    return s;
}

// "key=value" lines on the console, numbers without printf.
class line final {
  public:
    line& text(const char* t) {
        const std::size_t n = std::strlen(t);
        if (size_ + n < sizeof buf_) {
            std::memcpy(buf_ + size_, t, n);
            size_ += n;
        }
        return *this;
    }
    line& num(std::uint64_t v) {
        char digits[21];
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (n > 0 && size_ + 1 < sizeof buf_) {
            buf_[size_++] = digits[--n];
        }
        return *this;
    }
    void print() {
        buf_[size_++] = '\n';
        buf_[size_] = '\0';
        mps2::host_write(buf_);
    }

  private:
    char buf_[160]{};
    std::size_t size_ = 0;
};

// The UART has no carrier signal: QEMU's chardev reconnects (reconnect=1) whenever the broker
// closes the TCP connection, and the firmware cannot see it. So every open() ends the session
// the broker may still hold on this connection with DISCONNECT, which makes the broker close it,
// and waits for QEMU to connect afresh before the core sends CONNECT.
class uart_platform final : public core::platform {
  public:
    explicit uart_platform(bool wall) {
        std::uint64_t elapsed = 0;
        const std::uint32_t now = mps2::host_time();
        mps2::host_elapsed(elapsed);
        state_ = (static_cast<std::uint64_t>(now) << 32 ^ elapsed ^ mps2::host_clock()) | 1;
        if (wall) {
            wall_base_ =
                static_cast<std::int64_t>(now) * 1000 - static_cast<std::int64_t>(mps2::millis());
        }
    }

    std::uint64_t monotonic_ms() override { return mps2::millis(); }
    bool wall_ms(std::int64_t& out) override {
        out = wall_base_ + static_cast<std::int64_t>(mps2::millis());
        return wall_base_ != 0;
    }
    std::uint32_t random32() override {  // xorshift64*, seeded from host time and timing
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return static_cast<std::uint32_t>((state_ * 2685821657736338717ULL) >> 32);
    }
    bool open() override {
        // Never wait on the UART alone: QEMU notices a closed connection only while the board
        // drains its receiver, so a transmitter stuck on a dead socket must not stop the reads.
        const std::uint8_t disconnect[] = {0xE0, 0x00};
        std::size_t put = 0;
        const std::uint64_t until = mps2::millis() + 1500;
        std::uint8_t stale = 0;
        while (mps2::millis() < until) {
            mps2::uart_get(stale);  // bytes of the old connection
            if (put < sizeof disconnect && mps2::uart_put(disconnect[put])) {
                ++put;
            }
        }
        return true;
    }
    void close() override {}
    int write(const std::uint8_t* data, std::size_t size) override {
        std::size_t n = 0;
        while (n < size && mps2::uart_put(data[n])) {
            ++n;
        }
        return static_cast<int>(n);
    }
    int read(std::uint8_t* data, std::size_t size) override {
        std::size_t n = 0;
        while (n < size && mps2::uart_get(data[n])) {
            ++n;
        }
        return static_cast<int>(n);
    }
    void log(const char* text) override { line().text(text).print(); }
    bool load_boot(std::uint64_t& out) override {
        return store_ != nullptr && store_->load_boot(out);
    }
    bool save_boot(std::uint64_t boot) override {
        return store_ != nullptr && store_->save_boot(boot);
    }
    void use_store(fw::flash_store& store) { store_ = &store; }

  private:
    fw::flash_store* store_ = nullptr;
    std::uint64_t state_;
    std::int64_t wall_base_ = 0;
};

// A temperature that ramps between 20 and 34 C and back: crosses the 30 C alert every cycle.
double simulated_temperature(std::uint32_t n) {
    const std::uint32_t phase = n % 140;
    const std::uint32_t step = phase < 70 ? phase : 140 - phase;
    return 20.0 + static_cast<double>(step) * 0.2;
}

constexpr std::size_t buffer_readings = 512;
core::reading readings[buffer_readings];
std::uint8_t tx[1024 + 96];
std::uint8_t rx[128];
const core::sensor_info sensors[] = {{"temperature", "C"}};

// 12 sectors of 4 KiB, as on a small SPI NOR or an ESP32 data partition: 720 reading slots.
constexpr std::uint32_t flash_sector = 4096;
constexpr std::uint32_t flash_sectors = 12;
std::uint32_t flash_live[(fw::flash_store::slots_for(flash_sector, flash_sectors) + 31) / 32];
mps2::host_flash flash;

// The flash log, mounted, with a boot counter; nullptr when it cannot be used.
fw::flash_store* mount_flash(const char* path, uart_platform& board) {
    static fw::flash_store store(flash, sensors, 1, flash_live,
                                 sizeof flash_live / sizeof *flash_live);
    if (!flash.open(path, flash_sector, flash_sectors) || !store.mount()) {
        return nullptr;
    }
    std::uint64_t boot = 0;
    if (!store.load_boot(boot)) {
        // A blank flash: start the counter at random, so boots of an earlier life of this
        // board id, still known to the gateway, are not reused.
        store.save_boot(board.random32());
    }
    board.use_store(store);
    line()
        .text("flash: held=")
        .num(store.size())
        .text(" capacity=")
        .num(store.capacity())
        .text(" torn=")
        .num(store.counters().torn)
        .print();
    return &store;
}

}  // namespace

int main() {
    mps2::uart_init();
    const settings s = parse_cmdline();
    uart_platform board(s.wall);
    fw::flash_store* store = nullptr;
    if (s.flash != nullptr && (store = mount_flash(s.flash, board)) == nullptr) {
        line().text("fogbridge-mps2: cannot mount the flash ").text(s.flash).print();
        return 2;
    }
    core::device_config config;
    config.device_id = s.id;
    config.username = s.user;
    config.password = s.pass;
    config.keepalive_s = s.keepalive_s;
    config.connect_timeout_ms = 4000;
    config.health_interval_ms = 10000;
    config.delivery.max_in_flight = 64;
    config.delivery.resend_timeout_ms = 5000;
    config.delivery.max_readings_per_message = 8;
    config.delivery.max_message_bytes = 1024;
    config.backoff = {200, 5000, 3};
    // With a store the RAM ring is not used.
    const core::device_memory memory{
        readings, buffer_readings, tx, sizeof tx, rx, sizeof rx, store,
    };
    static core::device dev(board, config, memory, sensors, 1);
    if (!dev.valid()) {
        line().text("fogbridge-mps2: invalid settings").print();
        return 2;
    }
    dev.add_alert_rule({0, core::alert_direction::above, 30.0, 1.0});
    line().text("fogbridge-mps2: id=").text(s.id).text(" boot=").num(dev.boot()).print();

    const std::uint32_t period_ms = 1000 / s.rate_hz;
    std::uint64_t next_sample = mps2::millis();
    std::uint64_t next_report = next_sample + 1000;
    std::uint32_t taken = 0;
    std::uint32_t alerts = 0;
    bool done = false;
    for (;;) {
        const std::uint64_t now = mps2::millis();
        if ((s.readings == 0 || taken < s.readings) && now >= next_sample) {
            next_sample += period_ms;
            if (dev.publish(0, simulated_temperature(taken)) == core::accept_result::queued) {
                line()
                    .text("pub boot=")
                    .num(dev.boot())
                    .text(" seq=")
                    .num(dev.readings().last_seq())
                    .print();
            }
            ++taken;
        }
        dev.poll();
        if (dev.counters().alerts != alerts) {
            alerts = dev.counters().alerts;
            line().text("alert boot=").num(dev.boot()).text(" count=").num(alerts).print();
        }
        const auto& c = dev.readings().counters();
        if (now >= next_report) {
            next_report += 1000;
            line()
                .text("stat boot=")
                .num(dev.boot())
                .text(" published=")
                .num(c.published)
                .text(" acked=")
                .num(c.acked)
                .text(" buffered=")
                .num(dev.readings().buffered())
                .text(" full=")
                .num(c.buffer_full)
                .text(" resent=")
                .num(c.resent)
                .text(" reconnects=")
                .num(dev.counters().reconnects)
                .print();
        }
        // Done when nothing is left to deliver, readings of earlier boots in the flash too.
        if (!done && s.readings != 0 && taken >= s.readings && dev.readings().buffered() == 0) {
            done = true;
            line()
                .text("done boot=")
                .num(dev.boot())
                .text(" published=")
                .num(c.published)
                .text(" acked=")
                .num(c.acked)
                .print();
        }
    }
}
