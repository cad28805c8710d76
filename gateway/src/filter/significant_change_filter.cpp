#include "filter/significant_change_filter.hpp"

#include <cmath>
#include <functional>
#include <iterator>

#include "filter/glob.hpp"

namespace fogbridge {

std::size_t significant_change_filter::series_key_hash::operator()(const series_key& key) const {
    const std::size_t h = std::hash<std::string>{}(key.device);
    return h ^ (std::hash<std::string>{}(key.sensor) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

significant_change_filter::significant_change_filter(filter_settings settings)
    : settings_(std::move(settings)) {
    add_rule_counters();
}

void significant_change_filter::reload(filter_settings settings) {
    settings_ = std::move(settings);
    ++generation_;
    add_rule_counters();
}

void significant_change_filter::add_rule_counters() {
    for (const auto& rule : settings_.rules) {
        counters_.try_emplace(rule.name);
    }
    counters_.try_emplace(settings_.default_rule.name);
}

filter_result significant_change_filter::apply(const reading& r) {
    if (!std::isfinite(r.ts) || !std::isfinite(r.value)) {
        // Validation should have stopped it; dropping keeps the series state sound.
        ++counters_[rule_for(r.device, r.sensor).name].dropped;
        return {};
    }
    series_key key{r.device, r.sensor};
    auto [it, inserted] = series_.try_emplace(key);
    series_entry& entry = it->second;
    const filter_rule& rule = rule_of(entry, key);
    step_result step = inserted ? start_series(entry.state, r) : decide(entry.state, rule, r);
    count(rule, step);
    mark_dirty(entry, key);
    return {.decision = step.decision,
            .emit = std::move(step.emit),
            .holding = !entry.state.door.held.empty()};
}

void significant_change_filter::count(const filter_rule& rule, const step_result& step) {
    rule_counters& c = counters_[rule.name];
    c.kept_change += step.emit.size();
    c.dropped += step.held_dropped;
    switch (step.decision) {
        case filter_decision::keep_first:
            ++c.kept_first;
            break;
        case filter_decision::keep_change:
            ++c.kept_change;
            break;
        case filter_decision::keep_heartbeat:
            ++c.kept_heartbeat;
            break;
        case filter_decision::keep_gap:
            ++c.kept_gap;
            break;
        case filter_decision::drop:
            if (!step.now_held) {
                ++c.dropped;
            }
            break;
    }
}

const filter_rule& significant_change_filter::rule_of(series_entry& entry, const series_key& key) {
    if (entry.rule_generation != generation_) {
        entry.rule_index = find_rule(key.device, key.sensor);
        entry.rule_generation = generation_;
    }
    return rule_at(entry.rule_index);
}

std::size_t significant_change_filter::find_rule(std::string_view device,
                                                 std::string_view sensor) const {
    std::string name;
    name.reserve(device.size() + 1 + sensor.size());
    name.append(device).append("/").append(sensor);
    for (std::size_t i = 0; i < settings_.rules.size(); ++i) {
        if (glob_match(glob_pattern{settings_.rules[i].match}, name)) {
            return i;
        }
    }
    return settings_.rules.size();
}

const filter_rule& significant_change_filter::rule_at(std::size_t index) const {
    return index < settings_.rules.size() ? settings_.rules[index] : settings_.default_rule;
}

const filter_rule& significant_change_filter::rule_for(std::string_view device,
                                                       std::string_view sensor) const {
    return rule_at(find_rule(device, sensor));
}

void significant_change_filter::mark_dirty(series_entry& entry, const series_key& key) {
    if (entry.dirty) {
        return;
    }
    entry.dirty = true;
    dirty_.push_back(key);
}

std::vector<std::pair<std::string, std::string>> significant_change_filter::take_dirty() {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(dirty_.size());
    for (auto& key : dirty_) {
        if (auto it = series_.find(key); it != series_.end()) {
            it->second.dirty = false;
        }
        out.emplace_back(std::move(key.device), std::move(key.sensor));
    }
    dirty_.clear();
    return out;
}

std::string significant_change_filter::export_state(const std::string& device,
                                                    const std::string& sensor) const {
    const auto it = series_.find(series_key{device, sensor});
    return it == series_.end() ? std::string{} : encode_series_state(it->second.state);
}

bool significant_change_filter::import_state(const std::string& device, const std::string& sensor,
                                             const std::string& state) {
    series_key key{device, sensor};
    auto decoded = decode_series_state({.device = device, .sensor = sensor}, state);
    if (!decoded) {
        series_.erase(key);
        return false;
    }
    series_[std::move(key)].state = std::move(*decoded);
    return true;
}

std::vector<reading> significant_change_filter::flush_entry(series_entry& entry,
                                                            const series_key& key) {
    if (entry.state.door.held.empty()) {
        return {};
    }
    const filter_rule& rule = rule_of(entry, key);
    step_result step = flush_held(entry.state, rule);
    rule_counters& c = counters_[rule.name];
    c.kept_change += step.emit.size();
    c.dropped += step.held_dropped;
    mark_dirty(entry, key);
    return std::move(step.emit);
}

std::vector<reading> significant_change_filter::flush(const std::string& device,
                                                      const std::string& sensor) {
    series_key key{device, sensor};
    const auto it = series_.find(key);
    return it == series_.end() ? std::vector<reading>{} : flush_entry(it->second, key);
}

std::vector<std::tuple<std::string, std::string, double>> significant_change_filter::oldest_held()
    const {
    std::vector<std::tuple<std::string, std::string, double>> out;
    for (const auto& [key, entry] : series_) {
        const auto& held = entry.state.door.held;
        if (!held.empty()) out.emplace_back(key.device, key.sensor, held.front().ts);
    }
    return out;
}

std::optional<double> significant_change_filter::oldest_held_ts(const std::string& device,
                                                                const std::string& sensor) const {
    const auto it = series_.find(series_key{device, sensor});
    if (it == series_.end() || it->second.state.door.held.empty()) return std::nullopt;
    return it->second.state.door.held.front().ts;
}

std::vector<reading> significant_change_filter::flush_all() {
    std::vector<reading> out;
    for (auto& [key, entry] : series_) {
        auto kept = flush_entry(entry, key);
        std::move(kept.begin(), kept.end(), std::back_inserter(out));
    }
    return out;
}

}  // namespace fogbridge
