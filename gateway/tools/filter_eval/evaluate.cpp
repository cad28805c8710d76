#include "filter_eval/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "filter/significant_change_filter.hpp"
#include "filter_eval/fewest.hpp"

namespace fogbridge {
namespace {

constexpr std::size_t progress_every = std::size_t{1} << 16;

struct replay_state {
    significant_change_filter& filter;
    const eval_settings& options;
    const eval_progress& progress;
    std::size_t done = 0;
    std::size_t total = 0;
};

void count(channel_eval& out, filter_decision decision) {
    switch (decision) {
        case filter_decision::keep_first:
            ++out.kept_first;
            break;
        case filter_decision::keep_change:
            ++out.kept_change;
            break;
        case filter_decision::keep_heartbeat:
            ++out.kept_heartbeat;
            break;
        case filter_decision::keep_gap:
            ++out.kept_gap;
            break;
        case filter_decision::drop:
            break;
    }
}

// The kept points of one channel, in the order the filter forwarded them.
std::vector<series_point> replay(replay_state& st, const eval_input& in, channel_eval& out) {
    std::vector<series_point> kept;
    reading r;
    r.device = st.options.device;
    r.sensor = in.name;
    r.boot = 1;
    for (const auto& s : in.samples) {
        r.ts = s.ts;
        r.value = s.value;
        ++r.seq;
        const auto result = st.filter.apply(r);
        for (const auto& held : result.emit) {
            kept.push_back({held.ts, held.value});
            ++out.kept_change;
        }
        if (result.decision != filter_decision::drop) {
            kept.push_back(s);
            count(out, result.decision);
        }
        if (++st.done % progress_every == 0 && st.progress) {
            st.progress(st.done, st.total);
        }
    }
    for (const auto& held : st.filter.flush(st.options.device, in.name)) {
        kept.push_back({held.ts, held.value});
        ++out.kept_change;
    }
    return kept;
}

channel_eval evaluate_one(replay_state& st, const eval_input& in) {
    const filter_rule& rule = st.filter.rule_for(st.options.device, in.name);
    channel_eval out;
    out.name = in.name;
    out.rule = rule.name;
    out.mode = rule.mode;
    out.readings = in.samples.size();
    out.missing = in.missing;
    out.bound = error_bound(rule);
    const auto mode = reconstruct_mode_for(rule.mode);
    const auto kept = replay(st, in, out);
    out.kept = out.kept_first + out.kept_change + out.kept_heartbeat + out.kept_gap;
    if (out.readings > 0) {
        const auto error = measure_reconstruction({.kept = kept, .original = in.samples}, mode);
        out.reduction_pct =
            100.0 * (1.0 - static_cast<double>(out.kept) / static_cast<double>(out.readings));
        out.max_error = error.max_abs;
        out.rms_error = error.rms;
    }
    if (st.options.fewest_possible && out.bound) {
        out.fewest_possible = fewest_kept(in.samples, mode, *out.bound, rule.heartbeat);
    }
    return out;
}

}  // namespace

filter_rule force_rule_mode(filter_rule rule, filter_mode mode) {
    if (rule.mode == mode) {
        return rule;
    }
    if (mode == filter_mode::swinging_door && rule.deadband > 0) {
        rule.deviation = rule.deadband;
    } else if (mode == filter_mode::deadband && rule.deadband <= 0) {
        rule.deadband = rule.deviation;
    }
    rule.mode = mode;
    return rule;
}

filter_settings force_mode(filter_settings settings, filter_mode mode) {
    for (auto& rule : settings.rules) {
        rule = force_rule_mode(std::move(rule), mode);
    }
    settings.default_rule = force_rule_mode(std::move(settings.default_rule), mode);
    return settings;
}

std::optional<double> error_bound(const filter_rule& rule) {
    if (rule.min_interval > 0) {
        return std::nullopt;
    }
    if (rule.mode == filter_mode::swinging_door) {
        return rule.deviation;
    }
    if (rule.deadband > 0 || rule.deadband_pct <= 0) {
        return rule.deadband;
    }
    return std::nullopt;
}

std::vector<channel_eval> evaluate(const filter_settings& settings,
                                   std::span<const eval_input> inputs, const eval_settings& options,
                                   const eval_progress& progress) {
    significant_change_filter filter(options.force_mode ? force_mode(settings, *options.force_mode)
                                                        : settings);
    replay_state st{.filter = filter, .options = options, .progress = progress};
    for (const auto& in : inputs) {
        st.total += in.samples.size();
    }
    std::vector<channel_eval> out;
    out.reserve(inputs.size());
    for (const auto& in : inputs) {
        out.push_back(evaluate_one(st, in));
    }
    return out;
}

eval_input to_eval_input(const channel& c) {
    eval_input in;
    in.name = c.name;
    in.missing = c.missing;
    in.samples.reserve(c.samples.size());
    for (const auto& s : c.samples) {
        if (std::isfinite(s.ts) && std::isfinite(s.value)) {
            in.samples.push_back({s.ts, s.value});
        } else {
            ++in.missing;
        }
    }
    return in;
}

void merge_input(std::vector<eval_input>& into, eval_input more) {
    const auto same = std::find_if(into.begin(), into.end(),
                                   [&](const eval_input& in) { return in.name == more.name; });
    if (same == into.end()) {
        into.push_back(std::move(more));
        return;
    }
    same->samples.insert(same->samples.end(), more.samples.begin(), more.samples.end());
    same->missing += more.missing;
}

}  // namespace fogbridge
