// The decode fuzz target's shared parts: its invariant check, the fixed clock, and the checks
// kept in decode_fuzz_round_trip.cpp and decode_fuzz_tracker.cpp. Single-threaded, like libFuzzer.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch.hpp"
#include "validate/decode.hpp"

#define FOGBRIDGE_FUZZ_STR2(x) #x
#define FOGBRIDGE_FUZZ_STR(x) FOGBRIDGE_FUZZ_STR2(x)
// Not assert(): it must hold in every build type.
#define FOGBRIDGE_FUZZ_CHECK(cond)                                                            \
    do {                                                                                      \
        if (!(cond))                                                                          \
            fogbridge_fuzz::broken(#cond " (" __FILE__ ":" FOGBRIDGE_FUZZ_STR(__LINE__) ")"); \
    } while (false)

namespace fogbridge_fuzz {

inline constexpr std::uint64_t max_safe = (std::uint64_t{1} << 53) - 1;
inline constexpr double now = 1.7e9;  // the gateway clock; fixed so that every run is reproducible

[[noreturn]] inline void broken(const char* what) {
    std::fprintf(stderr, "fogbridge fuzz: invariant broken: %s\n", what);
    std::abort();
}

// decode_fuzz_round_trip.cpp: the encoders' output, read back by an independent JSON parser.
void check_batch_round_trip(const std::vector<fogbridge::reading>& readings);
void check_string_round_trip(std::string_view data);
void check_alert_round_trip(const fogbridge::alert& a);

// decode_fuzz_tracker.cpp: the sequence tracker against a model, and as the processor drives it.
void fuzz_tracker(std::string_view data);
void fuzz_processor_marks(const fogbridge::decoded_readings& decoded, const std::string& device);

}  // namespace fogbridge_fuzz
