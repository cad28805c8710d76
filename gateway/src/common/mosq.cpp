#include "common/mosq.hpp"

#include <fmt/format.h>

#include <mutex>
#include <stdexcept>

namespace fogbridge {

void ensure_mosquitto_init() {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string mosq_error(int rc) {
    if (rc == MOSQ_ERR_ERRNO) return fmt::format("system error {}", errno);
    return mosquitto_strerror(rc);
}

void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what) {
    if (e.username.empty()) return;
    const int rc = mosquitto_username_pw_set(m, e.username.c_str(),
                                             e.password.empty() ? nullptr : e.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS)
        throw std::runtime_error(fmt::format("{}: credentials: {}", what, mosq_error(rc)));
}

}  // namespace fogbridge
