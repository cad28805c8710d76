// Dedup marks across a gateway restart when a device has more boots in the store than the
// processor keeps at hand (validate.max_boots_per_device): no boot's mark may be forgotten.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "pipeline/processor.hpp"
#include "scratch_dir.hpp"
#include "store/store.hpp"

using fogbridge::commit_set;
using fogbridge::decode_settings;
using fogbridge::filter_settings;
using fogbridge::inbound_message;
using fogbridge::processor;
using fogbridge::store;
using fogbridge::store_settings;

namespace {

constexpr double t0 = 1732630000.0;

inbound_message reading(std::uint64_t boot, std::uint64_t seq) {
    return {"devices/d1/readings", R"({"sensor":"t","value":1.5,"ts":)" + std::to_string(t0) +
                                       R"(,"boot":)" + std::to_string(boot) + R"(,"seq":)" +
                                       std::to_string(seq) + "}"};
}

}  // namespace

TEST_CASE("restored marks: a boot beyond max_boots_per_device keeps its mark after a restart") {
    scratch_dir dir("fogbridge-marks");
    store_settings settings;
    settings.path = dir.path() / "store.db";
    settings.reading_size = fogbridge::encoded_size;
    decode_settings decode;
    // Boot ids are random on boards without a boot counter: the current boot (3) sorts below
    // the device's 16 earlier boots in the store.
    constexpr std::uint64_t current = 3;
    {
        store s(settings);
        commit_set set;
        set.now = t0;
        for (std::uint64_t b = 100; b < 100 + decode.max_boots_per_device; ++b)
            set.progress.push_back({"d1", b, 50});
        set.progress.push_back({"d1", current, 2});
        s.commit(set);
    }
    store s(settings);
    processor p("gw-01", decode, filter_settings{});
    p.restore(s, t0);
    // The board never heard the ack of seqs 1 and 2 (the gateway was killed first) and sends
    // them again: they are duplicates, not new readings.
    std::vector<inbound_message> group{reading(current, 1), reading(current, 2)};
    auto out = p.process(group, t0 + 1);
    CHECK(out.commit.readings.empty());
    CHECK(p.counters().duplicates == 2);
    // Its next reading follows the restored mark.
    group = {reading(current, 3)};
    out = p.process(group, t0 + 2);
    REQUIRE(out.commit.readings.size() == 1);
    CHECK(out.commit.readings[0].seq == 3U);
    CHECK(p.counters().out_of_order == 0);
    // Every earlier boot kept its mark too.
    for (std::uint64_t b = 100; b < 100 + decode.max_boots_per_device; ++b) {
        group = {reading(b, 50)};
        out = p.process(group, t0 + 3);
        CHECK(out.commit.readings.empty());
    }
}

TEST_CASE("restored marks: a boot the processor stopped tracking keeps its mark") {
    decode_settings decode;
    decode.max_boots_per_device = 2;
    decode.boot_idle_s = 0;
    processor p("gw-01", decode, filter_settings{});
    std::vector<inbound_message> group{reading(1, 1), reading(1, 2)};
    p.process(group, t0);
    // Two newer boots push boot 1 out of the processor's working set.
    group = {reading(2, 1), reading(3, 1)};
    p.process(group, t0 + 1);
    // A late re-send of boot 1 from its start is still a duplicate.
    group = {reading(1, 1), reading(1, 2)};
    const auto out = p.process(group, t0 + 2);
    CHECK(out.commit.readings.empty());
}
