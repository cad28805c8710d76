// libFuzzer target: the configuration loader (config/config.cpp, config/rules.cpp). The input
// is a few FOGBRIDGE_* environment variables (names picked from the documented keys or made up)
// followed by any bytes as the TOML file. Checked: parse_config() gives a configuration or
// throws config_error with one line, nothing else; a configuration it gives holds the checks
// start-up relies on.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.hpp"

#define FOGBRIDGE_FUZZ_STR2(x) #x
#define FOGBRIDGE_FUZZ_STR(x) FOGBRIDGE_FUZZ_STR2(x)
#define FOGBRIDGE_FUZZ_CHECK(cond)                                                        \
    do {                                                                                  \
        if (!(cond)) broken(#cond " (config_fuzz.cpp:" FOGBRIDGE_FUZZ_STR(__LINE__) ")"); \
    } while (false)

namespace {

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fogbridge fuzz: invariant broken: %s\n", what);
    std::abort();
}

// FOGBRIDGE_<SECTION>_<KEY> for each documented key ("filter.rules.x" ones are not variables,
// which is also worth feeding).
const std::vector<std::string>& variable_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& k : fogbridge::documented_keys()) {
            std::string v = "FOGBRIDGE_";
            for (const char c : k.name) {
                v.push_back(c == '.' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
            }
            out.push_back(v);
        }
        return out;
    }();
    return names;
}

void check(const fogbridge::gateway_config& c) {
    FOGBRIDGE_FUZZ_CHECK(!c.id.empty() && c.id.size() <= 64);
    FOGBRIDGE_FUZZ_CHECK(c.local.port >= 1 && c.local.port <= 65535);
    FOGBRIDGE_FUZZ_CHECK(!c.local.host.empty() && !c.cloud.endpoint.host.empty());
    FOGBRIDGE_FUZZ_CHECK(!c.local.client_id.empty() && !c.cloud.endpoint.client_id.empty());
    FOGBRIDGE_FUZZ_CHECK(c.metrics_port >= 0 && c.metrics_port <= 65535);
    FOGBRIDGE_FUZZ_CHECK(c.cloud.reconnect_min <= c.cloud.reconnect_max);
    FOGBRIDGE_FUZZ_CHECK(c.local.max_packet_bytes >= c.validate.max_payload_bytes);
    FOGBRIDGE_FUZZ_CHECK(!c.store.path.empty());
    FOGBRIDGE_FUZZ_CHECK(c.health_interval > 0 && c.stuck_after >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fogbridge::log::set_level(fogbridge::log::level::off);  // warnings about plain TCP, ...
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    fogbridge::env_map env;
    const int vars = in.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < vars; ++i) {
        const auto& names = variable_names();
        std::string name = in.ConsumeBool()
                               ? names[in.ConsumeIntegralInRange<std::size_t>(0, names.size() - 1)]
                               : "FOGBRIDGE_" + in.ConsumeRandomLengthString(24);
        env[name] = in.ConsumeRandomLengthString(32);
    }
    const auto toml = in.ConsumeRemainingBytesAsString();
    try {
        check(fogbridge::parse_config(toml, env, "fuzz.toml"));
    } catch (const fogbridge::config_error& e) {
        const std::string what = e.what();
        FOGBRIDGE_FUZZ_CHECK(!what.empty());
    }
    return 0;
}
