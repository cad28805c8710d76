// The short name of an error code for health's last_error_code. Thread-safe.
#pragma once

#include <string>
#include <system_error>

namespace fogbridge {

// The code as "<category>.<name>" ("net.timed_out", "store.full"); "" for no error.
std::string code_name(const std::error_code& code);

}  // namespace fogbridge
