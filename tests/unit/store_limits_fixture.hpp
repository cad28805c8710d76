// Helpers shared by the store's limit, expiry and gap record tests; one test uses them at a time.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

namespace store_limits_fixture {

using fogbridge::commit_set;
using fogbridge::drop_reason;
using fogbridge::gap_record;
using fogbridge::reading;
using fogbridge::seq_range;
using fogbridge::seq_run;
using fogbridge::store;
using fogbridge::store_errc;
using fogbridge::store_error;
using fogbridge::store_policy;
using fogbridge::store_settings;
using ranges = std::vector<seq_range>;
using runs = std::vector<seq_run>;

class temp_dir final : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-limits") {}

    store_settings settings() const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = path() / "store.db";
        out.synchronous = fogbridge::sync_mode::normal;
        return out;
    }
};

inline reading rd(std::uint64_t seq, const std::string& device = "d1", std::uint64_t boot = 7) {
    return {device, "temperature", 1.5, "C", 1000.0 + static_cast<double>(seq), boot, seq};
}

// Kept readings `seqs` of d1/7 with the processed mark, committed at `now`.
inline commit_set group(const std::vector<std::uint64_t>& seqs, std::uint64_t processed,
                        double now) {
    commit_set set;
    for (const std::uint64_t s : seqs) {
        set.readings.push_back(rd(s));
    }
    set.progress.push_back({"d1", 7, processed});
    set.now = now;
    return set;
}

inline std::vector<std::uint64_t> seqs_of(const fogbridge::lease& l) {
    std::vector<std::uint64_t> out;
    for (const auto& sr : l.readings) {
        out.push_back(sr.r.seq);
    }
    return out;
}

inline gap_record gap(drop_reason reason, runs dropped, double created,
                      const std::string& device = "d1", std::uint64_t boot = 7) {
    gap_record g;
    g.device = device;
    g.boot = boot;
    g.reason = reason;
    g.first = dropped.front().first;
    g.last = dropped.back().last;
    for (const seq_run& r : dropped) {
        g.count += r.last - r.first + 1;
    }
    g.first_ts = 1000.0 + static_cast<double>(g.first);
    g.last_ts = 1000.0 + static_cast<double>(g.last);
    g.created = created;
    g.dropped = std::move(dropped);
    return g;
}

inline std::vector<gap_record> all_gaps(store& s, double now = 500.0) {
    std::vector<gap_record> out;
    while (const auto l = s.lease_gaps(100, now)) {
        out.insert(out.end(), l->records.begin(), l->records.end());
        CHECK(s.ack_gaps(l->gap_id));
    }
    return out;
}

inline constexpr std::size_t no_byte_limit = 1'000'000;
inline const std::size_t reading_size = fogbridge::encoded_size(rd(1));

}  // namespace store_limits_fixture
