// Command line of fogbridge-sensor, the example board program; pure parsing, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fogbridge/alerts.hpp"
#include "fogbridge/recording.hpp"

namespace fogbridge::sensor {

enum class source_kind { simulated, replay, sysfs };

struct sensor_options {
    std::string id;
    std::string host = "127.0.0.1";
    int port = 1883;  // 8883 when TLS is on and --port is not given
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string key_passphrase_file;  // first line: the passphrase (never on the command line)
    std::string boot_file;
    source_kind source = source_kind::simulated;
    double rate = 1.0;        // simulated: readings per second per sensor
    std::uint64_t count = 0;  // stop after this many readings in all; 0: no limit
    double duration = 0.0;    // seconds; 0: no limit
    std::uint64_t seed = 1;
    std::string file;  // replay
    recording_format format = recording_format::automatic;
    double speed = 1.0;      // replay time compression; 0: as fast as the buffer allows
    bool start_now = false;  // replay: shift timestamps so the first sample is now
    std::string sysfs_root = "/sys";
    double interval = 5.0;  // sysfs: seconds between samples
    std::vector<alert_rule> alerts;
    std::size_t buffer = 10000;
    std::string buffer_file;            // empty: the buffer is memory only
    std::uint64_t buffer_fsync_ms = 0;  // 0: fsync every reading
    std::uint64_t buffer_max_bytes = 16ULL * 1024 * 1024;
    std::string journal;  // empty: none; else "<boot> <seq>" appended per buffered reading
    std::size_t max_in_flight = 1000;
    std::size_t per_message = 1;
    double resend_timeout = 10.0;
    int keepalive = 30;
    double flush_timeout = 5.0;
    double health_interval = 60.0;  // seconds between device health reports; 0: none
    bool verbose = false;
    // A board without a real-time clock: this is added to every ts (e.g. -1.7e9: 1970) until
    // clock_step_after seconds have run (< 0: never), when the clock is set right.
    double clock_offset = 0;
    double clock_step_after = -1;
};

// Throws std::invalid_argument with one line on bad usage; nullopt when --help was printed.
std::optional<sensor_options> parse_options(int argc, char** argv);

}  // namespace fogbridge::sensor
