// The portable core with persistent storage: readings kept in a store that survives a reset
// (as flash pages or a file would) go out after the reset under their own boot, before the new
// boot's, so a reset loses nothing.
#include <doctest/doctest.h>

#include <cstdint>
#include <new>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core_fake_board.hpp"
#include "fogbridge/core/device.hpp"

namespace core = fogbridge::core;

namespace {

using core_test::fake_board;

const core::sensor_info sensors[] = {{"temperature", "C"}};

// Stands for flash: a ring of readings with their boots, outliving any device.
class flash_store final : public core::reading_store {
  public:
    std::size_t capacity() const override { return capacity_; }
    std::size_t size() const override { return size_; }
    bool push(std::uint64_t boot, const core::reading& r, const core::sensor_info&) override {
        if (size_ == capacity_) {
            return false;
        }
        if (size_ > 0) {
            const slot& last = at(size_ - 1);
            if (last.boot == boot ? r.seq != last.r.seq + 1 : holds(boot)) {
                return false;
            }
        }
        slots_[(head_ + size_++) % capacity_] = slot{boot, r};
        return true;
    }
    std::size_t drop_through(const core::reading_id& through) override {
        const std::uint64_t boot = through.boot;
        const std::uint64_t seq = through.seq;
        if (!holds(boot)) {
            return 0;
        }
        std::size_t n = 0;
        while (size_ > 0 && (at(0).boot != boot || at(0).r.seq <= seq)) {
            const bool last_of_boot = at(0).boot == boot && at(0).r.seq == seq;
            head_ = (head_ + 1) % capacity_;
            --size_;
            ++n;
            if (last_of_boot) {
                break;
            }
        }
        return n;
    }
    bool get(std::uint64_t boot, std::uint64_t seq, core::reading_view& out) override {
        for (std::size_t i = 0; i < size_; ++i) {
            if (at(i).boot == boot && at(i).r.seq == seq) {
                out = core::reading_view{boot, at(i).r, sensors[0].name, sensors[0].unit};
                return true;
            }
        }
        return false;
    }
    bool front_run(core::run& out) const override {
        if (size_ == 0) {
            return false;
        }
        out = core::run{at(0).boot, at(0).r.seq, at(0).r.seq};
        for (std::size_t i = 1; i < size_ && at(i).boot == out.boot; ++i) {
            out.last_seq = at(i).r.seq;
        }
        return true;
    }
    bool holds(std::uint64_t boot) const override {
        for (std::size_t i = 0; i < size_; ++i) {
            if (at(i).boot == boot) {
                return true;
            }
        }
        return false;
    }

  private:
    struct slot {
        std::uint64_t boot = 0;
        core::reading r;
    };
    const slot& at(std::size_t i) const { return slots_[(head_ + i) % capacity_]; }

    static constexpr std::size_t capacity_ = 32;
    slot slots_[capacity_]{};
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

// A board whose RAM goes at each reset while the board's storage (boot counter, flash) stays.
struct board_with_flash {
    board_with_flash() {
        board.has_storage = true;
        board.stored_boot = 41;
        config.device_id = "b1";
        config.health_interval_ms = 0;
        config.delivery.max_readings_per_message = 1;
        config.backoff = {100, 1000, 3};
    }
    core::device& boot_up() {
        board.in.clear();
        board.take();
        core::device_memory m{nullptr, 0, tx, sizeof tx, rx, sizeof rx, &flash};
        dev = new (ram) core::device(board, config, m, sensors, 1);  // the old RAM is gone
        return *dev;
    }
    void connect() {
        dev->poll();
        board.connack();
        dev->poll();
        board.suback();
        dev->poll();
    }
    // (boot, seq) of every reading the board sent since the last call, in order.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> sent_readings() {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
        for (const auto& p : board.take()) {
            if (p.type != core::mqtt::packet_type::publish || p.topic() != "devices/b1/readings") {
                continue;
            }
            const std::string body = p.payload();
            const auto b = body.find("\"boot\":");
            const auto s = body.find("\"seq\":");
            out.emplace_back(std::stoull(body.substr(b + 7)), std::stoull(body.substr(s + 6)));
        }
        return out;
    }

    fake_board board;
    flash_store flash;
    core::device_config config;
    std::uint8_t tx[1200]{};
    std::uint8_t rx[128]{};
    alignas(core::device) unsigned char ram[sizeof(core::device)]{};
    core::device* dev = nullptr;
};

using sent = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

}  // namespace

TEST_SUITE("sdk_core") {
    TEST_CASE("storage: after a reset the stored readings go out first, under their own boot") {
        board_with_flash b;
        auto& first = b.boot_up();
        REQUIRE(first.valid());
        CHECK(first.boot() == 42);
        b.connect();
        for (int i = 0; i < 5; ++i) {
            first.publish(0, 20 + i);
        }
        first.poll();  // up to four packets a poll
        CHECK(b.sent_readings() == sent{{42, 1}, {42, 2}, {42, 3}, {42, 4}});
        b.board.ack(42, 2);
        first.poll();
        CHECK(b.sent_readings() == sent{{42, 5}});

        auto& second = b.boot_up();  // reset: 42/3..5 were never acknowledged
        REQUIRE(second.valid());
        CHECK(second.boot() == 43);
        CHECK(second.readings().counters().recovered == 3);
        CHECK(second.readings().sending_boot() == 42);
        CHECK(second.publish(0, 30) == core::accept_result::queued);
        CHECK(second.publish(0, 31) == core::accept_result::queued);
        b.connect();
        second.poll();
        // The earlier boot alone until it is acknowledged in full: acks come one boot at a time.
        CHECK(b.sent_readings() == sent{{42, 3}, {42, 4}, {42, 5}});
        b.board.ack(42, 5);
        second.poll();
        second.poll();
        CHECK(b.sent_readings() == sent{{43, 1}, {43, 2}});
        b.board.ack(43, 2);
        second.poll();
        CHECK(second.readings().buffered() == 0);
        CHECK(second.readings().counters().acked == 5);
    }

    TEST_CASE(
        "storage: an ack of a later stored boot also releases what is left of an earlier one") {
        board_with_flash b;
        b.boot_up().publish(0, 1);  // boot 42
        b.boot_up().publish(0, 2);  // boot 43
        auto& third = b.boot_up();  // boot 44: sends 42 first
        third.publish(0, 3);
        b.connect();
        CHECK(b.sent_readings() == sent{{42, 1}});
        // 43/1 was acknowledged, so 42 was in full, by a run whose flash writes a power loss
        // undid: the ack proves it.
        b.board.ack(43, 1);
        third.poll();
        CHECK(third.readings().counters().acked == 2);
        CHECK(b.sent_readings() == sent{{44, 1}});
    }

    TEST_CASE("storage: a store already holding the new boot's readings is refused") {
        board_with_flash b;
        auto& first = b.boot_up();
        first.publish(0, 1);
        b.board.stored_boot = 41;  // the boot counter was reset, the flash was not
        auto& again = b.boot_up();
        CHECK_FALSE(again.valid());
    }
}
