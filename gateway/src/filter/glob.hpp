// Glob matching for filter rules: '*' matches any run of characters except '/', '?' matches one
// character except '/', everything else is literal. Pure and thread-safe.
#pragma once

#include <string_view>

namespace fogbridge {

// True when the whole of `text` matches `pattern`. O(|pattern| * |text|), no backtracking blow-up.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace fogbridge
