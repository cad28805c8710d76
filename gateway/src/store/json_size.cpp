#include "store/json_size.hpp"

#include <fmt/format.h>

#include <string_view>

namespace fogbridge {
namespace {

constexpr std::string_view skeleton =
    R"({"device":"","sensor":"","value":,"unit":"","ts":,"boot":,"seq":},)";

std::size_t string_bytes(std::string_view s) {
    std::size_t n = s.size();
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            n += 1;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            n += 5;  // \u00XX
        }
    }
    return n;
}

}  // namespace

std::size_t estimate_json_bytes(const reading& r) {
    return skeleton.size() + string_bytes(r.device) + string_bytes(r.sensor) +
           string_bytes(r.unit) + fmt::formatted_size("{}", r.value) +
           fmt::formatted_size("{}", r.ts) + fmt::formatted_size("{}", r.boot) +
           fmt::formatted_size("{}", r.seq);
}

}  // namespace fogbridge
