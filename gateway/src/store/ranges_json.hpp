// How a batch's seq ranges are kept in the batches table, [["device",boot,first,last],...], and a
// gap record's dropped runs in the gaps table, [[first,last],...]. Thread-safe (pure).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace fogbridge {

std::string encode_ranges(const std::vector<seq_range>& ranges);
// Throws store_error(corrupt) when the text is not what encode_ranges wrote.
std::vector<seq_range> decode_ranges(std::string_view text);

std::string encode_runs(const std::vector<seq_run>& runs);
// Throws store_error(corrupt) when the text is not what encode_runs wrote.
std::vector<seq_run> decode_runs(std::string_view text);

}  // namespace fogbridge
