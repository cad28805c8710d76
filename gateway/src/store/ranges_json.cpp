#include "store/ranges_json.hpp"

#include <nlohmann/json.hpp>

namespace fogbridge {

std::string encode_ranges(const std::vector<seq_range>& ranges) {
    nlohmann::json out = nlohmann::json::array();
    for (const seq_range& r : ranges) {
        out.push_back({r.device, r.boot, r.first, r.last});
    }
    return out.dump();
}

std::vector<seq_range> decode_ranges(std::string_view text) {
    try {
        const nlohmann::json in = nlohmann::json::parse(text);
        std::vector<seq_range> out;
        out.reserve(in.size());
        for (const nlohmann::json& r : in) {
            out.push_back({r.at(0).get<std::string>(), r.at(1).get<std::uint64_t>(),
                           r.at(2).get<std::uint64_t>(), r.at(3).get<std::uint64_t>()});
        }
        return out;
    } catch (const nlohmann::json::exception& e) {
        throw store_error(store_errc::corrupt, std::string("batch ranges unreadable: ") + e.what());
    }
}

}  // namespace fogbridge
