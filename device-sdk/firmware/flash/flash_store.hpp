// The device core's reading_store and boot counter on a board's NOR-like flash (erased to 0xFF a
// sector at a time, programmed 1 -> 0, each byte once between erases): a log of records that
// carry a CRC and a commit word written last, so a reset during any write loses no committed
// record and leaves nothing half-read. Not thread-safe; no heap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "fogbridge/core/store.hpp"

namespace fogbridge::firmware {

// A board's flash driver: sectors() sectors of sector_size() bytes from address 0.
class flash_device {
  public:
    virtual std::uint32_t sector_size() const = 0;
    virtual std::uint32_t sectors() const = 0;
    virtual bool read(std::uint32_t addr, void* out, std::size_t size) = 0;
    // Programs erased bytes; the store never programs a byte twice between two erases.
    virtual bool program(std::uint32_t addr, const void* data, std::size_t size) = 0;
    virtual bool erase(std::uint32_t sector) = 0;  // every byte of the sector to 0xFF

  protected:
    ~flash_device() = default;
};

// What a header or meta unit holds: its first word (ASCII, little-endian).
enum class unit_tag : std::uint32_t {
    page = 0x48444246U,  // "FBDH"
    meta = 0x484D4246U,  // "FBMH"
    boot = 0x544F4F42U,  // "BOOT"
    head = 0x44414548U,  // "HEAD"
};

struct flash_store_counters {
    std::uint32_t torn = 0;  // records a reset cut short, found at mount and skipped
    std::uint32_t erases = 0;
    std::uint32_t compactions = 0;  // of the meta sectors
    std::uint32_t write_errors = 0;
};

// Sectors 0 and 1 hold the meta log (boot counter, acknowledged point), one in use at a time;
// the others a ring of data pages, each a header and fixed-size reading records. A page is
// erased once every reading in it is acknowledged, and checked blank before it is reused.
class flash_store final : public core::reading_store {
  public:
    static constexpr std::size_t max_runs = 8;  // boots held at once
    static constexpr std::uint32_t record_size = 56;
    static constexpr std::uint32_t unit_size = 32;  // page header, meta header and record

    // Reading slots the flash holds: `live` needs one bit per slot, as 32-bit words.
    static constexpr std::uint32_t slots_for(std::uint32_t sector_size, std::uint32_t sectors) {
        return sectors < 4 || sector_size < unit_size + record_size
                   ? 0
                   : (sectors - 2) * ((sector_size - unit_size) / record_size);
    }

    flash_store(flash_device& flash, const core::sensor_info* sensors, std::size_t sensor_count,
                std::uint32_t* live, std::size_t live_words)
        : flash_(flash),
          sensors_(sensors),
          sensor_count_(sensor_count),
          live_(live),
          live_words_(live_words) {}

    // Reads the log back (formats a blank or foreign flash); false when the flash cannot be
    // read or written or its geometry does not fit. Call once, before anything else.
    bool mount();

    // The boot counter, for the platform's load_boot/save_boot; none yet on a fresh flash.
    bool load_boot(std::uint64_t& out) const;
    bool save_boot(std::uint64_t boot);

    std::size_t capacity() const override;
    std::size_t size() const override { return size_; }
    bool push(std::uint64_t boot, const core::reading& r, const core::sensor_info& sensor) override;
    std::size_t drop_through(const core::reading_id& through) override;
    bool get(std::uint64_t boot, std::uint64_t seq, core::reading_view& out) override;
    bool front_run(core::run& out) const override;
    bool holds(std::uint64_t boot) const override { return find_run(boot) < run_count_; }

    const flash_store_counters& counters() const { return counters_; }

  private:
    std::uint32_t page_addr(std::uint64_t page) const;
    std::uint32_t slot_addr(std::uint64_t slot) const;
    bool live(std::uint64_t slot) const;
    void set_live(std::uint64_t slot, bool on);
    std::size_t find_run(std::uint64_t boot) const;
    std::uint64_t run_size(std::size_t i) const;
    bool take_run_record(std::uint64_t boot, std::uint64_t seq);

    bool write_unit(std::uint32_t addr, std::uint8_t* unit, std::uint32_t size);
    bool blank_sector(std::uint32_t sector);
    bool erase_sector(std::uint32_t sector);
    bool open_page(std::uint64_t page);

    bool mount_meta();
    bool scan_meta(std::uint32_t sector);
    bool format_meta(std::uint32_t sector);
    bool append_meta(unit_tag tag, std::uint64_t value);
    bool mount_data();
    bool scan_page(std::uint64_t from);  // false at the first never-written slot
    void advance_head(std::size_t n);
    void reclaim();

    flash_device& flash_;
    const core::sensor_info* sensors_;
    std::size_t sensor_count_;
    std::uint32_t* live_;
    std::size_t live_words_;

    std::uint32_t sector_size_ = 0;
    std::uint32_t data_sectors_ = 0;
    std::uint32_t per_page_ = 0;
    std::uint64_t slots_ = 0;

    // Slots are numbered from the first ever written; slot s is in page s / per_page_.
    std::uint64_t head_ = 0;       // the oldest held reading's slot, or tail_ when none
    std::uint64_t tail_ = 0;       // the next slot to write
    std::uint64_t reclaimed_ = 0;  // pages before this one are erased or known dropped
    std::size_t size_ = 0;
    std::uint64_t dropped_ = 0;  // readings dropped since mount: ordinals for the cursor
    std::uint64_t cursor_slot_ = 0;
    std::uint64_t cursor_ordinal_ = 0;
    bool cursor_ok_ = false;

    std::array<core::run, max_runs> runs_{};
    std::size_t run_count_ = 0;

    std::uint32_t meta_sector_ = 0;
    std::uint64_t meta_generation_ = 0;
    std::uint32_t meta_next_ = 0;  // offset of the next meta record
    std::uint64_t boot_ = 0;
    bool has_boot_ = false;
    std::uint64_t saved_head_ = 0;
    bool mounted_ = false;
    flash_store_counters counters_;
};

}  // namespace fogbridge::firmware
