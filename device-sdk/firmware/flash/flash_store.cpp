#include "flash_store.hpp"

#include <array>
#include <cstring>

namespace fogbridge::firmware {
namespace {

// A unit of N bytes: payload [0, N-12), CRC-32 of the payload at N-12, commit word at N-8,
// programmed last. The payload's first byte is never 0xFF, so a write cut short after any byte
// leaves a unit that is neither blank nor committed.
constexpr std::uint64_t commit_mark = 0x2174696D6D6F6321ULL;  // "!commit!"
constexpr std::uint8_t reading_tag = 0x52;                    // 'R'
constexpr std::uint8_t flag_no_up = 1;

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
    std::uint32_t c = 0xFFFFFFFFU;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) {
            c = (c >> 1) ^ (0xEDB88320U & (0U - (c & 1U)));
        }
    }
    return ~c;
}

template <typename T>
void put(std::uint8_t* at, T v) {
    std::memcpy(at, &v, sizeof v);
}

template <typename T>
T get_as(const std::uint8_t* at) {
    T v;
    std::memcpy(&v, at, sizeof v);
    return v;
}

void seal(std::uint8_t* unit, std::uint32_t size) {
    put(unit + size - 12, crc32(unit, size - 12));
    put(unit + size - 8, commit_mark);
}

bool committed(const std::uint8_t* unit, std::uint32_t size) {
    return get_as<std::uint64_t>(unit + size - 8) == commit_mark &&
           get_as<std::uint32_t>(unit + size - 12) == crc32(unit, size - 12);
}

bool all_ff(const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (p[i] != 0xFF) {
            return false;
        }
    }
    return true;
}

using unit_buf = std::array<std::uint8_t, flash_store::unit_size>;
using record_buf = std::array<std::uint8_t, flash_store::record_size>;

// Header and meta units: a tag and a 64-bit value.
unit_buf make_tagged(unit_tag tag, std::uint64_t value) {
    unit_buf unit{};
    put(unit.data(), static_cast<std::uint32_t>(tag));
    put(unit.data() + 8, value);
    seal(unit.data(), flash_store::unit_size);
    return unit;
}

bool has_tag(const std::uint8_t* unit, unit_tag tag) {
    return get_as<std::uint32_t>(unit) == static_cast<std::uint32_t>(tag);
}

constexpr std::uint32_t meta_sectors = 2;

}  // namespace

std::size_t flash_store::capacity() const {
    // One page stays free: the page being written never shares a sector with the oldest.
    return static_cast<std::size_t>(slots_ - per_page_);
}

std::uint32_t flash_store::page_addr(std::uint64_t page) const {
    return (meta_sectors + static_cast<std::uint32_t>(page % data_sectors_)) * sector_size_;
}

std::uint32_t flash_store::slot_addr(std::uint64_t slot) const {
    return page_addr(slot / per_page_) + unit_size +
           static_cast<std::uint32_t>(slot % per_page_) * record_size;
}

bool flash_store::live(std::uint64_t slot) const {
    const auto i = static_cast<std::size_t>(slot % slots_);
    return (live_[i / 32] >> (i % 32) & 1U) != 0;
}

void flash_store::set_live(std::uint64_t slot, bool on) {
    const auto i = static_cast<std::size_t>(slot % slots_);
    const std::uint32_t bit = 1U << (i % 32);
    live_[i / 32] = on ? live_[i / 32] | bit : live_[i / 32] & ~bit;
}

std::size_t flash_store::find_run(std::uint64_t boot) const {
    std::size_t i = 0;
    while (i < run_count_ && runs_[i].boot != boot) {
        ++i;
    }
    return i;
}

std::uint64_t flash_store::run_size(std::size_t i) const {
    return runs_[i].last_seq - runs_[i].first_seq + 1;
}

// The run bookkeeping of push and mount: continue the last run or start one for a new boot.
bool flash_store::take_run_record(std::uint64_t boot, std::uint64_t seq) {
    if (run_count_ > 0 && runs_[run_count_ - 1].boot == boot) {
        if (seq != runs_[run_count_ - 1].last_seq + 1) {
            return false;
        }
        runs_[run_count_ - 1].last_seq = seq;
        return true;
    }
    if (run_count_ == max_runs || holds(boot)) {
        return false;
    }
    runs_[run_count_++] = core::run{boot, seq, seq};
    return true;
}

bool flash_store::write_unit(std::uint32_t addr, std::uint8_t* unit, std::uint32_t size) {
    // The commit word goes last, in a write of its own: a cut before it leaves no valid unit.
    if (flash_.program(addr, unit, size - 8) &&
        flash_.program(addr + size - 8, unit + size - 8, 8)) {
        return true;
    }
    ++counters_.write_errors;
    return false;
}

bool flash_store::blank_sector(std::uint32_t sector) {
    std::array<std::uint8_t, 64> chunk{};
    const std::uint32_t addr = sector * sector_size_;
    for (std::uint32_t off = 0; off < sector_size_; off += chunk.size()) {
        const std::uint32_t n =
            sector_size_ - off < chunk.size() ? sector_size_ - off : chunk.size();
        if (!flash_.read(addr + off, chunk.data(), n) || !all_ff(chunk.data(), n)) {
            return false;
        }
    }
    return true;
}

bool flash_store::erase_sector(std::uint32_t sector) {
    ++counters_.erases;
    if (flash_.erase(sector)) {
        return true;
    }
    ++counters_.write_errors;
    return false;
}

bool flash_store::open_page(std::uint64_t page) {
    const std::uint32_t addr = page_addr(page);
    if (!blank_sector(addr / sector_size_) && !erase_sector(addr / sector_size_)) {
        return false;
    }
    for (std::uint64_t s = page * per_page_; s < (page + 1) * per_page_; ++s) {
        set_live(s, false);
    }
    unit_buf header = make_tagged(unit_tag::page, page);
    return write_unit(addr, header.data(), unit_size);
}

bool flash_store::mount() {
    sector_size_ = flash_.sector_size();
    slots_ = slots_for(sector_size_, flash_.sectors());
    if (mounted_ || slots_ == 0 || live_words_ * 32 < slots_ || sensor_count_ == 0) {
        return false;
    }
    data_sectors_ = flash_.sectors() - meta_sectors;
    per_page_ = (sector_size_ - unit_size) / record_size;
    std::memset(live_, 0, live_words_ * sizeof *live_);
    if (!mount_meta() || !mount_data()) {
        return false;
    }
    mounted_ = true;
    return true;
}

bool flash_store::mount_meta() {
    std::array<unit_buf, meta_sectors> h{};
    std::array<bool, meta_sectors> ok{};
    for (std::uint32_t s = 0; s < meta_sectors; ++s) {
        ok[s] = flash_.read(s * sector_size_, h[s].data(), unit_size) &&
                committed(h[s].data(), unit_size) && has_tag(h[s].data(), unit_tag::meta);
    }
    if (!ok[0] && !ok[1]) {
        return format_meta(0) && (blank_sector(1) || erase_sector(1));
    }
    // Both valid: a compaction finished but had not yet erased the older sector.
    const std::uint32_t use = !ok[0] || (ok[1] && get_as<std::uint64_t>(h[1].data() + 8) >
                                                      get_as<std::uint64_t>(h[0].data() + 8))
                                  ? 1
                                  : 0;
    meta_sector_ = use;
    meta_generation_ = get_as<std::uint64_t>(h[use].data() + 8);
    const std::uint32_t other = 1 - use;
    if (!blank_sector(other) && !erase_sector(other)) {
        return false;
    }
    return scan_meta(use);
}

bool flash_store::scan_meta(std::uint32_t sector) {
    meta_next_ = sector_size_;
    for (std::uint32_t off = unit_size; off + unit_size <= sector_size_; off += unit_size) {
        unit_buf u{};
        if (!flash_.read(sector * sector_size_ + off, u.data(), unit_size)) {
            return false;
        }
        if (all_ff(u.data(), unit_size)) {
            meta_next_ = off;
            break;
        }
        if (!committed(u.data(), unit_size)) {
            ++counters_.torn;
            continue;
        }
        const auto value = get_as<std::uint64_t>(u.data() + 8);
        if (has_tag(u.data(), unit_tag::boot)) {
            boot_ = value;
            has_boot_ = true;
        } else if (has_tag(u.data(), unit_tag::head)) {
            head_ = value;
        }
    }
    saved_head_ = head_;
    return true;
}

// Writes the live state (boot counter, acknowledged point) into an erased sector, header last,
// as the next generation (1 on a fresh flash).
bool flash_store::format_meta(std::uint32_t sector) {
    const std::uint32_t base = sector * sector_size_;
    if (!blank_sector(sector) && !erase_sector(sector)) {
        return false;
    }
    const std::uint64_t generation = meta_generation_ + 1;
    unit_buf u{};
    std::uint32_t off = unit_size;
    if (has_boot_) {
        u = make_tagged(unit_tag::boot, boot_);
        if (!write_unit(base + off, u.data(), unit_size)) {
            return false;
        }
        off += unit_size;
    }
    u = make_tagged(unit_tag::head, head_);
    if (!write_unit(base + off, u.data(), unit_size)) {
        return false;
    }
    u = make_tagged(unit_tag::meta, generation);
    if (!write_unit(base, u.data(), unit_size)) {
        return false;
    }
    meta_sector_ = sector;
    meta_generation_ = generation;
    meta_next_ = off + unit_size;
    saved_head_ = head_;
    return true;
}

bool flash_store::append_meta(unit_tag tag, std::uint64_t value) {
    if (meta_next_ + unit_size > sector_size_) {
        // Full: the state moves to the other sector, then this one is erased.
        ++counters_.compactions;
        const std::uint32_t old = meta_sector_;
        return format_meta(1 - old) && erase_sector(old);
    }
    unit_buf u = make_tagged(tag, value);
    const std::uint32_t addr = meta_sector_ * sector_size_ + meta_next_;
    meta_next_ += unit_size;  // a failed write leaves a unit that must not be programmed again
    return write_unit(addr, u.data(), unit_size);
}

bool flash_store::load_boot(std::uint64_t& out) const {
    out = boot_;
    return mounted_ && has_boot_;
}

bool flash_store::save_boot(std::uint64_t boot) {
    if (!mounted_) {
        return false;
    }
    boot_ = boot;
    has_boot_ = true;
    return append_meta(unit_tag::boot, boot);
}

bool flash_store::mount_data() {
    // Pages from the acknowledged point on, in order, until one that was never opened or a slot
    // never written: the first blank slot is where writing goes on.
    const std::uint64_t first = head_ / per_page_;
    reclaimed_ = first;
    tail_ = head_;
    for (std::uint64_t page = first; page < first + data_sectors_; ++page) {
        unit_buf h{};
        if (!flash_.read(page_addr(page), h.data(), unit_size)) {
            return false;
        }
        if (!committed(h.data(), unit_size) || !has_tag(h.data(), unit_tag::page) ||
            get_as<std::uint64_t>(h.data() + 8) != page) {
            tail_ = page * per_page_ > head_ ? page * per_page_ : head_;
            break;
        }
        if (!scan_page(page == first ? head_ : page * per_page_)) {
            break;
        }
    }
    head_ = tail_;  // the first live slot, found below
    for (std::uint64_t s = tail_; s-- > saved_head_;) {
        head_ = live(s) ? s : head_;
    }
    return true;
}

bool flash_store::scan_page(std::uint64_t from) {
    const std::uint64_t end = (from / per_page_ + 1) * per_page_;
    for (std::uint64_t s = from; s < end; ++s) {
        record_buf r{};
        if (!flash_.read(slot_addr(s), r.data(), record_size) || all_ff(r.data(), record_size)) {
            tail_ = s;
            return false;
        }
        tail_ = s + 1;
        const bool valid = committed(r.data(), record_size) && r[0] == reading_tag &&
                           r[1] < sensor_count_ &&
                           take_run_record(get_as<std::uint64_t>(r.data() + 4),
                                           get_as<std::uint64_t>(r.data() + 12));
        if (!valid) {
            ++counters_.torn;
            continue;
        }
        set_live(s, true);
        ++size_;
    }
    return true;
}

bool flash_store::push(std::uint64_t boot, const core::reading& r,
                       const core::sensor_info& /*sensor*/) {
    if (!mounted_ || r.sensor >= sensor_count_) {
        return false;
    }
    if (run_count_ > 0 && runs_[run_count_ - 1].boot == boot
            ? r.seq != runs_[run_count_ - 1].last_seq + 1
            : run_count_ == max_runs || holds(boot)) {
        return false;
    }
    if (tail_ - head_ / per_page_ * per_page_ >= slots_) {
        return false;  // the next slot is in the oldest held reading's sector
    }
    if (tail_ % per_page_ == 0 && !open_page(tail_ / per_page_)) {
        return false;
    }
    record_buf u{};
    u[0] = reading_tag;
    u[1] = r.sensor;
    u[2] = r.no_up ? flag_no_up : std::uint8_t{0};
    put(u.data() + 4, boot);
    put(u.data() + 12, r.seq);
    put(u.data() + 20, r.value);
    put(u.data() + 28, r.ts_ms);
    put(u.data() + 36, r.up_ms);
    seal(u.data(), record_size);
    const std::uint64_t slot = tail_++;
    if (!write_unit(slot_addr(slot), u.data(), record_size)) {
        return false;  // the slot is skipped: it may hold part of the record
    }
    take_run_record(boot, r.seq);
    if (size_++ == 0) {
        head_ = slot;
    }
    set_live(slot, true);
    return true;
}

void flash_store::advance_head(std::size_t n) {
    while (n > 0 && head_ < tail_) {
        if (live(head_)) {
            set_live(head_, false);
            --n;
        }
        ++head_;
    }
    while (head_ < tail_ && !live(head_)) {
        ++head_;
    }
}

std::size_t flash_store::drop_through(const core::reading_id& through) {
    const std::uint64_t boot = through.boot;
    const std::uint64_t seq = through.seq;
    const std::size_t at = find_run(boot);
    if (at == run_count_) {
        return 0;
    }
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < at; ++i) {
        n += run_size(i);
    }
    core::run& r = runs_[at];
    const bool whole = seq >= r.last_seq;
    if (seq >= r.first_seq) {
        n += whole ? run_size(at) : seq - r.first_seq + 1;
        r.first_seq = seq + 1;
    }
    if (n == 0) {
        return 0;
    }
    const std::size_t gone = at + (whole ? 1 : 0);
    for (std::size_t i = gone; i < run_count_; ++i) {
        runs_[i - gone] = runs_[i];
    }
    run_count_ -= gone;
    advance_head(static_cast<std::size_t>(n));
    size_ -= static_cast<std::size_t>(n);
    dropped_ += n;
    // Persisted before the pages are erased: a reset between the two leaves pages the next
    // mount skips, never an acknowledged point behind erased records.
    if (append_meta(unit_tag::head, head_)) {
        saved_head_ = head_;
        reclaim();
    }
    return static_cast<std::size_t>(n);
}

void flash_store::reclaim() {
    const std::uint64_t keep = saved_head_ / per_page_;
    for (; reclaimed_ < keep; ++reclaimed_) {
        if (!erase_sector(page_addr(reclaimed_) / sector_size_)) {
            return;  // open_page erases it before it is written again
        }
    }
}

bool flash_store::get(std::uint64_t boot, std::uint64_t seq, core::reading_view& out) {
    const std::size_t at = find_run(boot);
    if (at == run_count_ || seq < runs_[at].first_seq || seq > runs_[at].last_seq) {
        return false;
    }
    std::uint64_t target = dropped_ + seq - runs_[at].first_seq;
    for (std::size_t i = 0; i < at; ++i) {
        target += run_size(i);
    }
    // Readings are read mostly in order: walk on from the last one found.
    if (!cursor_ok_ || cursor_ordinal_ < dropped_ || cursor_ordinal_ > target) {
        cursor_slot_ = head_;
        cursor_ordinal_ = dropped_;
    }
    while (cursor_ordinal_ < target && cursor_slot_ < tail_) {
        ++cursor_slot_;
        cursor_ordinal_ += live(cursor_slot_) ? 1 : 0;
    }
    cursor_ok_ = true;
    record_buf u{};
    if (cursor_ordinal_ != target || !live(cursor_slot_) ||
        !flash_.read(slot_addr(cursor_slot_), u.data(), record_size) ||
        !committed(u.data(), record_size) || get_as<std::uint64_t>(u.data() + 4) != boot ||
        get_as<std::uint64_t>(u.data() + 12) != seq) {
        cursor_ok_ = false;
        return false;
    }
    out.boot = boot;
    out.r.seq = seq;
    out.r.sensor = u[1];
    out.r.no_up = (u[2] & flag_no_up) != 0;
    out.r.value = get_as<double>(u.data() + 20);
    out.r.ts_ms = get_as<std::int64_t>(u.data() + 28);
    out.r.up_ms = get_as<std::uint64_t>(u.data() + 36);
    out.sensor = sensors_[out.r.sensor].name;
    out.unit = sensors_[out.r.sensor].unit;
    return true;
}

bool flash_store::front_run(core::run& out) const {
    if (run_count_ == 0) {
        return false;
    }
    out = runs_[0];
    return true;
}

}  // namespace fogbridge::firmware
