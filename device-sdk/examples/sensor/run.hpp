// The board program's main loop: feeds a source into a device_client until done or signalled.
#pragma once

#include <csignal>
#include <string_view>

#include "options.hpp"

namespace fogbridge::sensor {

// Set by SIGINT/SIGTERM; the loops poll it.
extern volatile std::sig_atomic_t stop_signal;

// One line on stderr: UTC time, program, device, text.
void log_line(std::string_view id, std::string_view text);

// Returns the process exit code. Start-up errors throw std::runtime_error.
int run_sensor(const sensor_options& options);

}  // namespace fogbridge::sensor
