// Helpers shared by the store's basic and lease tests; one test uses them at a time.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "batch/batch.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

namespace store_fixture {

namespace fs = std::filesystem;
using fogbridge::commit_set;
using fogbridge::lease;
using fogbridge::reading;
using fogbridge::seq_range;
using fogbridge::store;
using fogbridge::store_settings;
using ranges = std::vector<seq_range>;

class temp_dir final : public scratch_dir {
  public:
    temp_dir() : scratch_dir("fogbridge-store") {}

    fs::path db() const { return path() / "store.db"; }
    store_settings settings() const {
        store_settings out;
        out.reading_size = fogbridge::encoded_size;
        out.path = db();
        out.synchronous = fogbridge::sync_mode::normal;
        return out;
    }
};

inline reading rd(const std::string& device, std::uint64_t boot, std::uint64_t seq,
                  double value = 1.5) {
    return {device, "temperature", value, "C", 1000.0 + static_cast<double>(seq), boot, seq};
}

inline commit_set readings_of(std::vector<reading> rs, double now = 50.0) {
    commit_set set;
    set.readings = std::move(rs);
    set.now = now;
    return set;
}

inline commit_set progress_of(const std::string& device, std::uint64_t boot,
                              std::uint64_t processed) {
    commit_set set;
    set.progress.push_back({device, boot, processed});
    return set;
}

inline std::vector<std::uint64_t> seqs_of(const lease& l) {
    std::vector<std::uint64_t> out;
    for (const auto& sr : l.readings) {
        out.push_back(sr.r.seq);
    }
    return out;
}

inline constexpr std::size_t no_byte_limit = 1'000'000;

}  // namespace store_fixture
