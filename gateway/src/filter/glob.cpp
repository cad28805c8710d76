#include "filter/glob.hpp"

#include <vector>

namespace fogbridge {

bool glob_match(glob_pattern pattern, std::string_view text) {
    // row[j]: the pattern prefix seen so far matches text[0, j).
    std::vector<bool> row(text.size() + 1, false);
    std::vector<bool> next(text.size() + 1, false);
    row[0] = true;
    for (const char p : pattern.text) {
        next[0] = p == '*' && row[0];
        for (std::size_t j = 1; j <= text.size(); ++j) {
            const char t = text[j - 1];
            if (p == '*') {
                next[j] = row[j] || (t != '/' && next[j - 1]);
            } else if (p == '?') {
                next[j] = row[j - 1] && t != '/';
            } else {
                next[j] = row[j - 1] && t == p;
            }
        }
        row.swap(next);
    }
    return row[text.size()];
}

}  // namespace fogbridge
