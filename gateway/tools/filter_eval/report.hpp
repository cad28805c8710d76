// Output of fogbridge-filter-eval: a text table for people, JSON for scripts. Pure; thread-safe.
#pragma once

#include <span>
#include <string>

#include "filter_eval/evaluate.hpp"

namespace fogbridge {

// {"channels": {"<name>": {"readings": n, "kept": n, "missing": n, "reduction_pct": x,
// "max_error": x, "rms_error": x, "bound": x, "mode": "...", "rule": "..."}}}, channels in the
// order given; null for a figure that does not exist (see channel_eval). With `fewest`, each
// channel also has "fewest_possible": n (or null). One line, no newline.
std::string format_json(std::span<const channel_eval> channels, bool fewest = false);

// An aligned table with a header line, one line per channel, and a note when a bound is absent;
// with `fewest`, a last column "fewest" (fewest_possible).
std::string format_table(std::span<const channel_eval> channels, bool fewest = false);

}  // namespace fogbridge
