// The firmware's flash log (device-sdk/firmware/flash) on a strict model of NOR flash: bits only
// cleared by programming, a byte programmed at most once between erases, and power cut after
// any byte of a program or erase. Committed readings and the boot counter must survive every cut.
#include "flash_store.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core_fake_board.hpp"
#include "fogbridge/core/device.hpp"

namespace core = fogbridge::core;
namespace fw = fogbridge::firmware;

namespace {

const core::sensor_info sensors[] = {{"temperature", "C"}, {"humidity", "%"}};

class model_flash final : public fw::flash_device {
  public:
    model_flash(std::uint32_t sector_size, std::uint32_t sectors)
        : sector_size_(sector_size),
          sectors_(sectors),
          bytes_(sector_size * sectors, 0xFF),
          programmed_(bytes_.size(), false) {}

    std::uint32_t sector_size() const override { return sector_size_; }
    std::uint32_t sectors() const override { return sectors_; }
    bool read(std::uint32_t addr, void* out, std::size_t size) override {
        if (dead || addr + size > bytes_.size()) {
            return false;
        }
        std::memcpy(out, bytes_.data() + addr, size);
        return true;
    }
    bool program(std::uint32_t addr, const void* data, std::size_t size) override {
        const auto* in = static_cast<const std::uint8_t*>(data);
        for (std::size_t i = 0; i < size; ++i) {
            if (!spend()) {
                return false;
            }
            programmed_twice += programmed_[addr + i] ? 1 : 0;
            programmed_[addr + i] = true;
            bytes_[addr + i] &= in[i];
        }
        ++programs;
        return true;
    }
    bool erase(std::uint32_t sector) override {
        for (std::uint32_t i = 0; i < sector_size_; ++i) {
            if (!spend()) {
                return false;
            }
            bytes_[sector * sector_size_ + i] = 0xFF;
            programmed_[sector * sector_size_ + i] = false;
        }
        ++erases;
        return true;
    }
    void power_on() {
        dead = false;
        budget = -1;
    }
    void scribble(std::uint32_t seed) {
        for (auto& b : bytes_) {
            seed = seed * 1103515245u + 12345u;
            b = static_cast<std::uint8_t>(seed >> 16);
        }
        std::fill(programmed_.begin(), programmed_.end(), true);
    }

    long budget = -1;  // bytes programmed or erased before the power goes; -1: no cut
    bool dead = false;
    int programmed_twice = 0;
    int programs = 0;
    int erases = 0;

  private:
    bool spend() {
        if (dead || budget == 0) {
            dead = true;
            return false;
        }
        budget -= budget > 0 ? 1 : 0;
        return true;
    }

    std::uint32_t sector_size_;
    std::uint32_t sectors_;
    std::vector<std::uint8_t> bytes_;
    std::vector<bool> programmed_;
};

// A mounted store on a flash, as after a reset: nothing but the flash carries over.
struct mounted {
    explicit mounted(model_flash& f) : store(f, sensors, 2, live, 64) {}
    fw::flash_store store;
    std::uint32_t live[64]{};
};

core::reading make(std::uint64_t seq) {
    core::reading r;
    r.seq = seq;
    r.value = static_cast<double>(seq) * 0.5;
    r.ts_ms = 1700000000000 + static_cast<std::int64_t>(seq);
    r.up_ms = seq * 10;
    r.sensor = static_cast<std::uint8_t>(seq % 2);
    r.no_up = seq % 3 == 0;
    return r;
}

using key = std::pair<std::uint64_t, std::uint64_t>;

// Every byte on the host; on the emulated board (sdk_core_cortex_m*), every 23rd, for time.
#if defined(__ARM_EABI__) && !defined(__linux__)
constexpr long cut_step = 23;
#else
constexpr long cut_step = 1;
#endif

// Every reading the store holds, in order, checked against make().
std::vector<key> contents(fw::flash_store& s) {
    std::vector<key> out;
    core::run r;
    if (!s.front_run(r)) {
        return out;
    }
    std::uint64_t boot = r.boot;
    std::uint64_t seq = r.first_seq;
    std::size_t guard = 0;
    while (out.size() < s.size() && guard++ < 10000) {
        core::reading_view v;
        if (s.get(boot, seq, v)) {
            const core::reading want = make(seq);
            CHECK(v.r.value == want.value);
            CHECK(v.r.ts_ms == want.ts_ms);
            CHECK(v.r.up_ms == want.up_ms);
            CHECK(v.r.no_up == want.no_up);
            CHECK(v.sensor == sensors[want.sensor].name);
            out.emplace_back(boot, seq++);
            continue;
        }
        // The next run: the smallest boot held after this one (boots here grow).
        std::uint64_t next = 0;
        for (std::uint64_t b = boot + 1; b < boot + 64 && next == 0; ++b) {
            next = s.holds(b) ? b : 0;
        }
        REQUIRE(next != 0);
        boot = next;
        seq = 1;
        while (!s.get(boot, seq, v) && seq < 100000) {
            ++seq;
        }
    }
    return out;
}

// The fake board with its boot counter in the flash log, as the firmware wires it.
class flash_board final : public core::platform {
  public:
    flash_board(core_test::fake_board& b, fw::flash_store& s) : b_(b), s_(s) {}
    std::uint64_t monotonic_ms() override { return b_.monotonic_ms(); }
    std::uint32_t random32() override { return b_.random32(); }
    bool open() override { return b_.open(); }
    void close() override { b_.close(); }
    int write(const std::uint8_t* d, std::size_t n) override { return b_.write(d, n); }
    int read(std::uint8_t* d, std::size_t n) override { return b_.read(d, n); }
    bool load_boot(std::uint64_t& out) override { return s_.load_boot(out); }
    bool save_boot(std::uint64_t boot) override { return s_.save_boot(boot); }

  private:
    core_test::fake_board& b_;
    fw::flash_store& s_;
};

// A board whose RAM (store object, device) goes at each reset while its flash stays.
struct board_with_flash_log {
    board_with_flash_log() {
        config.device_id = "b1";
        config.health_interval_ms = 0;
        config.delivery.max_readings_per_message = 1;
        config.backoff = {100, 1000, 3};
    }
    core::device& boot_up() {
        f.power_on();
        board.in.clear();
        board.take();
        m = new (m_ram) mounted(f);
        REQUIRE(m->store.mount());
        std::uint64_t b = 0;
        if (!m->store.load_boot(b)) {
            m->store.save_boot(100);
        }
        p = new (p_ram) flash_board(board, m->store);
        const core::device_memory mem{nullptr, 0, tx, sizeof tx, rx, sizeof rx, &m->store};
        dev = new (dev_ram) core::device(*p, config, mem, sensors, 1);
        REQUIRE(dev->valid());
        dev->poll();
        board.connack();
        dev->poll();
        board.suback();
        dev->poll();
        return *dev;
    }
    // Polls, acknowledging every reading sent, until nothing is buffered; what was sent.
    std::vector<key> drain() {
        std::vector<key> out;
        for (int i = 0; i < 200 && dev->readings().buffered() > 0; ++i) {
            dev->poll();
            for (const auto& pk : board.take()) {
                if (pk.type != core::mqtt::packet_type::publish) {
                    continue;
                }
                if (((pk.flags >> 1) & 3) != 0) {  // the broker's PUBACK
                    const std::size_t at = 2 + pk.topic().size();
                    board.send({0x40, 2, pk.body[at], pk.body[at + 1]});
                }
                if (pk.topic() != "devices/b1/readings") {
                    continue;
                }
                const std::string body = pk.payload();
                const key k{std::stoull(body.substr(body.find("\"boot\":") + 7)),
                            std::stoull(body.substr(body.find("\"seq\":") + 6))};
                out.push_back(k);
                board.ack(k.first, k.second);
            }
            board.now += 10;
        }
        return out;
    }

    model_flash f{256, 10};  // 8 data pages of 4 readings
    core_test::fake_board board;
    core::device_config config;
    std::uint8_t tx[1200]{};
    std::uint8_t rx[128]{};
    alignas(mounted) unsigned char m_ram[sizeof(mounted)]{};
    alignas(flash_board) unsigned char p_ram[sizeof(flash_board)]{};
    alignas(core::device) unsigned char dev_ram[sizeof(core::device)]{};
    mounted* m = nullptr;
    flash_board* p = nullptr;
    core::device* dev = nullptr;
};

}  // namespace

TEST_SUITE("sdk_flash_store") {
    TEST_CASE("the device core on the flash log: a power cut mid-stream loses no reading taken") {
        for (long cut = 0; cut < 1400; cut += 7 * cut_step) {  // 20 readings: 1,280 bytes
            board_with_flash_log b;
            auto& first = b.boot_up();
            CHECK(first.boot() == 101);
            // Readings taken while the broker acknowledges nothing, then the power goes.
            std::vector<key> taken;
            b.f.budget = cut;
            for (int i = 0; i < 20; ++i) {
                if (first.publish(0, 20.0 + i) == core::accept_result::queued) {
                    taken.emplace_back(first.boot(), first.readings().last_seq());
                }
                first.poll();
            }
            b.board.take();
            auto& second = b.boot_up();
            INFO("power cut after " << cut << " bytes");
            CHECK(second.boot() >= 102);
            CHECK(second.publish(0, 30.0) == core::accept_result::queued);
            const auto sent = b.drain();
            CHECK(second.readings().buffered() == 0);
            for (const auto& k : taken) {
                CHECK(std::find(sent.begin(), sent.end(), k) != sent.end());
            }
            CHECK(sent.back() == key{second.boot(), 1});
            CHECK(b.f.programmed_twice == 0);
        }
    }

    TEST_CASE("a blank flash mounts empty with no boot counter; the counter survives a reset") {
        model_flash f(256, 6);
        {
            mounted m(f);
            REQUIRE(m.store.mount());
            std::uint64_t boot = 0;
            CHECK_FALSE(m.store.load_boot(boot));
            CHECK(m.store.size() == 0);
            CHECK(m.store.capacity() == 12);  // 4 data pages of 4 slots, one kept free
            CHECK(m.store.save_boot(7));
        }
        mounted m(f);
        REQUIRE(m.store.mount());
        std::uint64_t boot = 0;
        CHECK(m.store.load_boot(boot));
        CHECK(boot == 7);
        CHECK(f.programmed_twice == 0);
    }

    TEST_CASE("readings survive a reset in order; an acknowledged point survives too") {
        model_flash f(256, 6);
        {
            mounted m(f);
            REQUIRE(m.store.mount());
            for (std::uint64_t s = 1; s <= 6; ++s) {
                REQUIRE(m.store.push(5, make(s), sensors[0]));
            }
            CHECK_FALSE(m.store.push(5, make(9), sensors[0]));  // not the next seq
            CHECK(m.store.drop_through(core::reading_id{5, 2}) == 2);
        }
        mounted m(f);
        REQUIRE(m.store.mount());
        CHECK(contents(m.store) == std::vector<key>{{5, 3}, {5, 4}, {5, 5}, {5, 6}});
        core::run r;
        REQUIRE(m.store.front_run(r));
        CHECK((r.boot == 5 && r.first_seq == 3 && r.last_seq == 6));
        // A later boot after a reset, and an ack of it that releases the earlier boot too.
        CHECK_FALSE(m.store.push(5, make(1), sensors[0]));
        REQUIRE(m.store.push(6, make(1), sensors[0]));
        REQUIRE(m.store.push(6, make(2), sensors[0]));
        CHECK(m.store.drop_through(core::reading_id{6, 1}) == 5);
        CHECK(contents(m.store) == std::vector<key>{{6, 2}});
        CHECK(f.programmed_twice == 0);
    }

    TEST_CASE("the ring wraps: acknowledged pages are erased and written again") {
        model_flash f(256, 6);
        mounted m(f);
        REQUIRE(m.store.mount());
        std::uint64_t seq = 0;
        for (int round = 0; round < 50; ++round) {
            for (int i = 0; i < 5; ++i) {
                REQUIRE(m.store.push(1, make(++seq), sensors[0]));
            }
            CHECK(m.store.drop_through(core::reading_id{1, seq - 2}) > 0);
        }
        CHECK(m.store.size() == 2);
        CHECK(f.erases > 50);
        CHECK(m.store.counters().compactions > 5);
        while (m.store.push(1, make(++seq), sensors[0])) {
        }
        CHECK(m.store.size() >= m.store.capacity());
        CHECK(f.programmed_twice == 0);
        mounted again(f);
        REQUIRE(again.store.mount());
        CHECK(again.store.size() == m.store.size());
    }

    TEST_CASE("boots held at once are bounded; a foreign flash is formatted") {
        model_flash f(256, 6);
        f.scribble(42);
        mounted m(f);
        REQUIRE(m.store.mount());
        CHECK(m.store.size() == 0);
        for (std::uint64_t b = 1; b <= fw::flash_store::max_runs; ++b) {
            REQUIRE(m.store.push(b, make(1), sensors[0]));
        }
        CHECK_FALSE(m.store.push(fw::flash_store::max_runs + 1, make(1), sensors[0]));
    }

    TEST_CASE("a power cut at any byte of any write loses no committed reading") {
        // The workload: boots that each push readings while the gateway acknowledges them late,
        // on a tiny flash so that it wraps pages and compacts the meta log many times.
        long total = 0;
        std::uint32_t torn_seen = 0;
        std::uint32_t compactions = 0;
        for (long cut = 0;; cut += cut_step) {
            model_flash f(256, 6);
            std::map<key, bool> held;  // what the store promised to keep
            std::uint64_t saved_boot = 0;
            bool ran_out = false;
            {
                mounted m(f);
                REQUIRE(m.store.mount());
                f.budget = cut;
                for (std::uint64_t boot = 1; boot <= 3 && !ran_out; ++boot) {
                    saved_boot = m.store.save_boot(boot) ? boot : saved_boot;
                    for (std::uint64_t seq = 1; seq <= 14 && !ran_out; ++seq) {
                        if (m.store.push(boot, make(seq), sensors[0])) {
                            held[{boot, seq}] = true;
                        }
                        if (seq % 4 == 0) {
                            m.store.drop_through(core::reading_id{boot, seq - 2});
                            for (auto it = held.begin(); it != held.end();) {
                                const bool gone =
                                    it->first.first < boot ||
                                    (it->first.first == boot && it->first.second <= seq - 2);
                                it = gone ? held.erase(it) : std::next(it);  // cut or not
                            }
                        }
                        ran_out = f.dead;
                    }
                }
                compactions = m.store.counters().compactions;
            }
            total = cut;
            CHECK(f.programmed_twice == 0);
            f.power_on();
            mounted m(f);
            REQUIRE(m.store.mount());
            const auto got = contents(m.store);
            torn_seen += m.store.counters().torn;
            std::map<key, bool> found;
            for (const auto& k : got) {
                found[k] = true;
            }
            for (const auto& [k, _] : held) {
                INFO("cut after " << cut << " bytes: lost boot " << k.first << " seq " << k.second);
                CHECK(found.count(k) == 1);
            }
            // It goes on: a new boot, its readings, all acknowledged, and one more reset.
            std::uint64_t boot = 0;
            CHECK((m.store.load_boot(boot) || saved_boot == 0));
            CHECK(boot >= saved_boot);
            REQUIRE(m.store.push(10, make(1), sensors[0]));
            CHECK(m.store.drop_through(core::reading_id{10, 1}) == got.size() + 1);
            CHECK(m.store.size() == 0);
            mounted after(f);
            REQUIRE(after.store.mount());
            CHECK(after.store.size() == 0);
            CHECK(f.programmed_twice == 0);
            if (!ran_out) {
                break;  // the cut came after the whole workload
            }
        }
        MESSAGE("power cut after " << total / cut_step + 1 << " points of " << total << " bytes; "
                                   << torn_seen << " torn units found at mount");
        CHECK(torn_seen * cut_step > 100);
        CHECK(compactions >= 1);  // of the whole workload
    }
}
