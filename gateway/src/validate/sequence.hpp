// Per (device, boot) record of processed seqs, for dedup and acks; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace fogbridge {

enum class seq_verdict { fresh, duplicate };

// One seq of one series (device, boot).
struct seq_point {
    const std::string& device;
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
};

// Seqs first..last (inclusive) that were given up as lost.
struct seq_gap {
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    bool operator==(const seq_gap&) const = default;
};

struct sequence_settings {
    // Processed seqs kept above the contiguous mark per series. When a mark would exceed it, the
    // lowest missing range is given up as lost: the contiguous mark jumps over it and mark()
    // returns it, so the gateway can count and report the gap.
    std::size_t max_pending = 4096;
    // Boots kept at hand per device; beyond it the least recently used boot is retired: only
    // its contiguous mark is kept, and it comes back with that mark when the device sends it
    // again. Its readings may have been delivered and deleted from the store already, so a
    // forgotten mark would take a re-send in again as new.
    std::size_t max_boots_per_device = 16;
    // Retired marks kept in all (about 100 bytes each); beyond it the longest retired goes. The
    // store keeps every mark until store.prune_after_s, and start-up retires them all here.
    std::size_t max_retired = 65536;
};

// For each series: the highest seq up to which everything was processed (the "contiguous" mark,
// which is what a device is acknowledged) plus the processed seqs above it that arrived out of
// order. Processed means stored, deliberately filtered or rejected.
class sequence_tracker final {
  public:
    explicit sequence_tracker(sequence_settings settings = {});

    seq_verdict check(const std::string& device, std::uint64_t boot, std::uint64_t seq) const;

    // Records seq as processed; idempotent. Returns the range given up when the pending cap was
    // hit.
    std::optional<seq_gap> mark(const seq_point& point);

    // Gives up the lowest missing range now (for example after a timeout), as the cap would.
    // nullopt when nothing is pending.
    std::optional<seq_gap> skip_missing(const std::string& device, std::uint64_t boot);

    std::uint64_t contiguous(const std::string& device, std::uint64_t boot) const;  // 0 if none
    std::size_t pending(const std::string& device, std::uint64_t boot) const;

    // The mark saved in the store, at start-up; never lowers a mark and is not reported as dirty.
    // A boot not at hand keeps it as a retired mark (start-up restores every boot of the store).
    void restore(const std::string& device, std::uint64_t boot, std::uint64_t contiguous);

    // (device, boot, contiguous) for every series whose mark moved since the last call, in the
    // order they first moved.
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> take_dirty();

  private:
    struct series {
        std::uint64_t boot = 0;
        std::uint64_t contiguous = 0;
        std::set<std::uint64_t> pending;
        std::uint64_t last_used = 0;
        bool dirty = false;
    };
    using device_series = std::vector<series>;
    using series_key = std::pair<std::string, std::uint64_t>;
    struct retired_mark {
        std::uint64_t contiguous = 0;
        std::uint64_t order = 0;  // key of retired_order_
    };

    const series* find(const std::string& device, std::uint64_t boot) const;
    series& touch(const std::string& device, std::uint64_t boot);
    static void advance(series& s, std::uint64_t to);
    void set_dirty(const std::string& device, series& s);
    std::optional<seq_gap> give_up_lowest(const std::string& device, series& s);
    std::uint64_t retired(const std::string& device, std::uint64_t boot) const;
    void retire(const std::string& device, std::uint64_t boot, std::uint64_t contiguous);
    std::uint64_t take_retired(const std::string& device, std::uint64_t boot);

    sequence_settings settings_;
    std::unordered_map<std::string, device_series> devices_;
    std::vector<std::pair<std::string, std::uint64_t>> dirty_;
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> evicted_dirty_;
    std::map<series_key, retired_mark> retired_;
    std::map<std::uint64_t, series_key> retired_order_;  // oldest retirement first
    std::uint64_t clock_ = 0;  // use counter for least-recently-used eviction
};

}  // namespace fogbridge
