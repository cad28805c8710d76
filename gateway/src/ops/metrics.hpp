// Renders the gateway's figures (ops/figures.hpp) as a Prometheus text exposition page (format
// 0.0.4). Pure.
#pragma once

#include <string>
#include <string_view>

#include "ops/figures.hpp"

namespace fogbridge {

// The page for one snapshot of the figures; an unknown (empty) figure leaves its metric off.
std::string render_metrics(const gateway_figures& f);

// Text format escaping: a label value escapes \ " and newline; HELP text escapes \ and newline.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as the text format spells it: shortest round-trip decimal, +Inf, -Inf, NaN.
std::string format_sample_value(double v);

}  // namespace fogbridge
