// The gateway's version string, set by CMake.
#pragma once

#include <string_view>

namespace fogbridge {
std::string_view version();
}
