#include "validate/sequence.hpp"

#include <algorithm>

namespace fogbridge {

sequence_tracker::sequence_tracker(sequence_settings settings) : settings_(settings) {
    settings_.max_pending = std::max<std::size_t>(settings_.max_pending, 1);
    settings_.max_boots_per_device = std::max<std::size_t>(settings_.max_boots_per_device, 1);
    settings_.max_retired = std::max<std::size_t>(settings_.max_retired, 1);
}

const sequence_tracker::series* sequence_tracker::find(const std::string& device,
                                                       std::uint64_t boot) const {
    const auto it = devices_.find(device);
    if (it == devices_.end()) return nullptr;
    for (const auto& s : it->second) {
        if (s.boot == boot) return &s;
    }
    return nullptr;
}

sequence_tracker::series& sequence_tracker::touch(const std::string& device, std::uint64_t boot) {
    auto& boots = devices_[device];
    ++clock_;
    for (auto& s : boots) {
        if (s.boot == boot) {
            s.last_used = clock_;
            return s;
        }
    }
    if (boots.size() >= settings_.max_boots_per_device) {
        const auto oldest = std::min_element(
            boots.begin(), boots.end(), [](auto& a, auto& b) { return a.last_used < b.last_used; });
        if (oldest->dirty) evicted_dirty_.emplace_back(device, oldest->boot, oldest->contiguous);
        retire(device, oldest->boot, oldest->contiguous);
        boots.erase(oldest);
    }
    auto& s = boots.emplace_back();
    s.boot = boot;
    s.last_used = clock_;
    s.contiguous = take_retired(device, boot);
    return s;
}

std::uint64_t sequence_tracker::retired(const std::string& device, std::uint64_t boot) const {
    const auto it = retired_.find({device, boot});
    return it == retired_.end() ? 0 : it->second.contiguous;
}

void sequence_tracker::retire(const std::string& device, std::uint64_t boot,
                              std::uint64_t contiguous) {
    if (contiguous == 0) return;
    const std::uint64_t kept = std::max(contiguous, take_retired(device, boot));
    ++clock_;
    retired_.emplace(series_key{device, boot}, retired_mark{kept, clock_});
    retired_order_.emplace(clock_, series_key{device, boot});
    while (retired_.size() > settings_.max_retired) {
        retired_.erase(retired_order_.begin()->second);
        retired_order_.erase(retired_order_.begin());
    }
}

std::uint64_t sequence_tracker::take_retired(const std::string& device, std::uint64_t boot) {
    const auto it = retired_.find({device, boot});
    if (it == retired_.end()) return 0;
    const std::uint64_t mark = it->second.contiguous;
    retired_order_.erase(it->second.order);
    retired_.erase(it);
    return mark;
}

// Moves the mark to `to`, then over every pending seq that now follows it.
void sequence_tracker::advance(series& s, std::uint64_t to) {
    s.contiguous = to;
    auto it = s.pending.begin();
    while (it != s.pending.end() && *it <= s.contiguous + 1) {
        s.contiguous = std::max(s.contiguous, *it);
        it = s.pending.erase(it);
    }
}

void sequence_tracker::set_dirty(const std::string& device, series& s) {
    if (s.dirty) return;
    s.dirty = true;
    dirty_.emplace_back(device, s.boot);
}

std::optional<seq_gap> sequence_tracker::give_up_lowest(const std::string& device, series& s) {
    if (s.pending.empty()) return std::nullopt;
    const seq_gap lost{s.contiguous + 1, *s.pending.begin() - 1};
    advance(s, lost.last);
    set_dirty(device, s);
    return lost;
}

seq_verdict sequence_tracker::check(const std::string& device, std::uint64_t boot,
                                    std::uint64_t seq) const {
    const auto* s = find(device, boot);
    if (!s) return seq <= retired(device, boot) ? seq_verdict::duplicate : seq_verdict::fresh;
    if (seq <= s->contiguous || s->pending.contains(seq)) return seq_verdict::duplicate;
    return seq_verdict::fresh;
}

std::optional<seq_gap> sequence_tracker::mark(const seq_point& point) {
    const auto& [device, boot, seq] = point;
    auto& s = touch(device, boot);
    if (seq <= s.contiguous) return std::nullopt;
    if (seq == s.contiguous + 1) {
        advance(s, seq);
        set_dirty(device, s);
        return std::nullopt;
    }
    s.pending.insert(seq);
    if (s.pending.size() <= settings_.max_pending) return std::nullopt;
    return give_up_lowest(device, s);
}

std::optional<seq_gap> sequence_tracker::skip_missing(const std::string& device,
                                                      std::uint64_t boot) {
    if (!find(device, boot)) return std::nullopt;
    return give_up_lowest(device, touch(device, boot));
}

std::uint64_t sequence_tracker::contiguous(const std::string& device, std::uint64_t boot) const {
    const auto* s = find(device, boot);
    return s ? s->contiguous : retired(device, boot);
}

std::size_t sequence_tracker::pending(const std::string& device, std::uint64_t boot) const {
    const auto* s = find(device, boot);
    return s ? s->pending.size() : 0;
}

void sequence_tracker::restore(const std::string& device, std::uint64_t boot,
                               std::uint64_t contiguous) {
    if (!find(device, boot)) {
        // Not at hand: kept aside, so restoring many boots pushes none of them out.
        retire(device, boot, contiguous);
        return;
    }
    auto& s = touch(device, boot);
    if (contiguous <= s.contiguous) return;
    advance(s, contiguous);
    // Pending seqs absorbed above the restored mark are news the store has not seen yet.
    if (s.contiguous > contiguous) set_dirty(device, s);
}

std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> sequence_tracker::take_dirty() {
    auto out = std::move(evicted_dirty_);
    evicted_dirty_.clear();
    for (const auto& [device, boot] : dirty_) {
        const auto it = devices_.find(device);
        if (it == devices_.end()) continue;
        for (auto& s : it->second) {
            if (s.boot == boot && s.dirty) {
                s.dirty = false;
                out.emplace_back(device, boot, s.contiguous);
            }
        }
    }
    dirty_.clear();
    return out;
}

}  // namespace fogbridge
