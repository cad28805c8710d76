#include "common/version.hpp"

namespace fogbridge {
std::string_view version() { return "0.1.0"; }
}  // namespace fogbridge
