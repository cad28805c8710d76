// The decode fuzz target's sequence tracker part: the tracker against a model of its promises,
// and the marks the processor makes for decoded readings.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "decode_fuzz.hpp"
#include "validate/sequence.hpp"

namespace fogbridge_fuzz {

namespace {

// What the tracker promises for one device without evictions: the contiguous mark is the highest
// c such that every seq 1..c was processed (marked), given up (a returned gap) or restored.
class tracker_model final {
  public:
    static constexpr std::uint64_t limit = 256;  // seqs used with the model stay below this

    explicit tracker_model(std::size_t max_pending) : max_pending_(max_pending) {}

    void marked(std::uint64_t boot, std::uint64_t seq) { cover(series_[boot], seq); }
    void given_up(std::uint64_t boot, fogbridge::seq_gap gap) {
        auto& m = series_[boot];
        for (auto s = gap.first; s <= gap.last; ++s) cover(m, s);
    }
    void restored(std::uint64_t boot, std::uint64_t c) {
        auto& m = series_[boot];
        if (c <= m.mark) return;
        m.mark = c;  // 1..c are covered now
        m.above.erase(m.above.begin(), m.above.upper_bound(c));
        extend(m);
    }
    void touched(std::uint64_t boot) { series_[boot]; }

    std::uint64_t contiguous(std::uint64_t boot) const {
        const auto it = series_.find(boot);
        return it == series_.end() ? 0 : it->second.mark;
    }
    std::size_t pending(std::uint64_t boot) const {
        const auto it = series_.find(boot);
        return it == series_.end() ? 0 : it->second.above.size();
    }
    bool processed(std::uint64_t boot, std::uint64_t seq) const {
        const auto it = series_.find(boot);
        if (it == series_.end()) return seq == 0;
        return seq <= it->second.mark || it->second.above.contains(seq);
    }
    std::size_t max_pending() const { return max_pending_; }

  private:
    // Covered seqs: 1..mark, and those in `above` (all greater than mark + 1).
    struct series {
        std::uint64_t mark = 0;
        std::set<std::uint64_t> above;
    };
    static void cover(series& m, std::uint64_t seq) {
        if (seq <= m.mark) return;
        m.above.insert(seq);
        extend(m);
    }
    static void extend(series& m) {
        while (m.above.erase(m.mark + 1) == 1) ++m.mark;
    }

    std::size_t max_pending_;
    std::map<std::uint64_t, series> series_;
};

void check_against_model(const fogbridge::sequence_tracker& t, const tracker_model& m,
                         const std::string& device, std::uint64_t boot) {
    FOGBRIDGE_FUZZ_CHECK(t.contiguous(device, boot) == m.contiguous(boot));
    FOGBRIDGE_FUZZ_CHECK(t.pending(device, boot) == m.pending(boot));
    FOGBRIDGE_FUZZ_CHECK(t.pending(device, boot) <= m.max_pending());
}

}  // namespace

// Drives a tracker with operations read from the input, three bytes each (the first
// max_tracker_ops of them, which keeps the model cheap). Device "m" stays
// within the model's limits (3 boots, small seqs, no eviction) and is checked after every step;
// device "x" takes any seq up to 2^53-1 and more boots than it may remember, and must only keep
// its basic promises.
void fuzz_tracker(std::string_view data) {
    constexpr std::size_t max_tracker_ops = 200;
    constexpr std::size_t max_pending = 8;
    data = data.substr(0, 3 * max_tracker_ops);
    fogbridge::sequence_tracker t({max_pending, 4});
    tracker_model model(max_pending);
    const std::string m = "m";
    const std::string x = "x";
    std::map<std::uint64_t, bool> moved;  // model device: boots whose mark moved since take_dirty
    std::vector<std::uint64_t> moved_order;
    const auto note_move = [&](std::uint64_t boot, std::uint64_t before) {
        if (t.contiguous(m, boot) == before || moved[boot]) return;
        moved[boot] = true;
        moved_order.push_back(boot);
    };
    for (std::size_t i = 0; i + 3 <= data.size(); i += 3) {
        const auto op = static_cast<unsigned char>(data[i]);
        const auto b1 = static_cast<unsigned char>(data[i + 1]);
        const auto b2 = static_cast<unsigned char>(data[i + 2]);
        const std::uint64_t boot = (op >> 4U) % 3U;
        const std::uint64_t seq = (b1 | (std::uint64_t{b2} << 8U)) % tracker_model::limit;
        const auto before = t.contiguous(m, boot);
        switch (op % 8U) {
            case 0:
            case 1:
            case 2: {  // check, then mark, as the processor does for a reading
                const auto s = seq + 1;
                const auto verdict = t.check(m, boot, s);
                FOGBRIDGE_FUZZ_CHECK((verdict == fogbridge::seq_verdict::duplicate) ==
                                     model.processed(boot, s));
                const auto gap = t.mark({.device = m, .boot = boot, .seq = s});
                model.marked(boot, s);
                if (gap) {
                    FOGBRIDGE_FUZZ_CHECK(gap->first == before + 1 && gap->first <= gap->last);
                    for (auto g = gap->first; g <= gap->last; ++g) {
                        FOGBRIDGE_FUZZ_CHECK(!model.processed(boot, g));
                    }
                    model.given_up(boot, *gap);
                }
                FOGBRIDGE_FUZZ_CHECK(t.check(m, boot, s) == fogbridge::seq_verdict::duplicate);
                note_move(boot, before);
                break;
            }
            case 3: {
                const auto gap = t.skip_missing(m, boot);
                FOGBRIDGE_FUZZ_CHECK(gap.has_value() == (model.pending(boot) > 0));
                if (gap) {
                    FOGBRIDGE_FUZZ_CHECK(gap->first == before + 1 && gap->first <= gap->last);
                    model.given_up(boot, *gap);
                }
                note_move(boot, before);
                break;
            }
            case 4: {
                t.restore(m, boot, seq);
                model.touched(boot);
                model.restored(boot, seq);
                // Restoring is not news, but pending seqs it lets the mark absorb are.
                if (t.contiguous(m, boot) > std::max(before, seq)) note_move(boot, before);
                break;
            }
            case 5: {
                const auto dirty = t.take_dirty();
                std::vector<std::uint64_t> got;
                for (const auto& [device, b, c] : dirty) {
                    if (device != m) continue;
                    FOGBRIDGE_FUZZ_CHECK(c == model.contiguous(b));
                    got.push_back(b);
                }
                FOGBRIDGE_FUZZ_CHECK(got == moved_order);
                moved.clear();
                moved_order.clear();
                break;
            }
            default: {  // device x: wide seqs, six boots for four places
                const std::uint64_t wide = op & 1U ? max_safe - seq : seq * 0x9E3779B97F4AULL;
                const std::uint64_t xboot = (op >> 4U) % 6U;
                const auto xs = std::clamp<std::uint64_t>(wide, 1, max_safe);
                const auto mark_before = t.contiguous(x, xboot);
                if (op & 2U) {
                    t.restore(x, xboot, xs);
                } else {
                    t.mark({.device = x, .boot = xboot, .seq = xs});
                    FOGBRIDGE_FUZZ_CHECK(t.check(x, xboot, xs) ==
                                         fogbridge::seq_verdict::duplicate);
                }
                FOGBRIDGE_FUZZ_CHECK(t.contiguous(x, xboot) >= mark_before);
                FOGBRIDGE_FUZZ_CHECK(t.pending(x, xboot) <= max_pending);
                break;
            }
        }
        check_against_model(t, model, m, boot);
    }
}

// Feeds decoded readings and rejections to a tracker the way the processor does.
void fuzz_processor_marks(const fogbridge::decoded_readings& decoded, const std::string& device) {
    fogbridge::sequence_tracker t;
    for (const auto& r : decoded.rejects) {
        if (r.boot && r.seq) t.mark({.device = device, .boot = *r.boot, .seq = *r.seq});
    }
    for (const auto& r : decoded.readings) {
        if (t.check(r.device, r.boot, r.seq) == fogbridge::seq_verdict::duplicate) continue;
        t.mark({.device = r.device, .boot = r.boot, .seq = r.seq});
        FOGBRIDGE_FUZZ_CHECK(t.check(r.device, r.boot, r.seq) == fogbridge::seq_verdict::duplicate);
    }
    for (const auto& [d, boot, c] : t.take_dirty()) {
        FOGBRIDGE_FUZZ_CHECK(d == device && c <= max_safe);
    }
}

}  // namespace fogbridge_fuzz
