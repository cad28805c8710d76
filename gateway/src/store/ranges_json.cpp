#include "store/ranges_json.hpp"

#include <fmt/format.h>

#include <iterator>
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

std::string encode_runs(const std::vector<seq_run>& runs) {
    std::string out = "[";
    for (const seq_run& r : runs) {
        if (out.size() > 1) {
            out += ',';
        }
        fmt::format_to(std::back_inserter(out), "[{},{}]", r.first, r.last);
    }
    out += ']';
    return out;
}

std::vector<seq_run> decode_runs(std::string_view text) {
    try {
        const nlohmann::json in = nlohmann::json::parse(text);
        std::vector<seq_run> out;
        out.reserve(in.size());
        for (const nlohmann::json& r : in) {
            out.push_back({r.at(0).get<std::uint64_t>(), r.at(1).get<std::uint64_t>()});
        }
        return out;
    } catch (const nlohmann::json::exception& e) {
        throw store_error(store_errc::corrupt, std::string("gap runs unreadable: ") + e.what());
    }
}

}  // namespace fogbridge
