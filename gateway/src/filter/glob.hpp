// Glob matching for filter rules: '*' matches any run of characters except '/', '?' matches one
// character except '/', everything else is literal. Pure and thread-safe.
#pragma once

#include <string_view>

namespace fogbridge {

// A pattern, typed apart from the text it is matched against so the two cannot trade places.
struct glob_pattern {
    std::string_view text;
};

// True when the whole of `text` matches `pattern`. O(|pattern| * |text|), no backtracking blow-up.
bool glob_match(glob_pattern pattern, std::string_view text);

}  // namespace fogbridge
