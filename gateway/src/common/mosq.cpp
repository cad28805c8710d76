#include "common/mosq.hpp"

#include <fmt/format.h>

#include <cerrno>
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

net_error mosq_failure(int rc) {
    const int saved = errno;
    net_errc code = net_errc::connection_lost;
    switch (rc) {
        case MOSQ_ERR_CONN_REFUSED:
        case MOSQ_ERR_AUTH:
            code = net_errc::refused_by_broker;
            break;
        case MOSQ_ERR_TLS:
        case MOSQ_ERR_TLS_HANDSHAKE:
        case MOSQ_ERR_OCSP:
            code = net_errc::tls_handshake;
            break;
        case MOSQ_ERR_PROTOCOL:
        case MOSQ_ERR_MALFORMED_PACKET:
        case MOSQ_ERR_DUPLICATE_PROPERTY:
        case MOSQ_ERR_TOPIC_ALIAS_INVALID:
            code = net_errc::protocol_violation;
            break;
        case MOSQ_ERR_EAI:
        case MOSQ_ERR_LOOKUP:
            code = net_errc::name_resolution;
            break;
        case MOSQ_ERR_KEEPALIVE:
            code = net_errc::no_answer;
            break;
        case MOSQ_ERR_TIMEOUT:
            code = net_errc::timed_out;
            break;
        case MOSQ_ERR_ERRNO:
            code = net_errc_from_errno(saved);
            break;
        case MOSQ_ERR_NOMEM:
        case MOSQ_ERR_INVAL:
        case MOSQ_ERR_PAYLOAD_SIZE:
        case MOSQ_ERR_OVERSIZE_PACKET:
        case MOSQ_ERR_QOS_NOT_SUPPORTED:
        case MOSQ_ERR_RETAIN_NOT_SUPPORTED:
            code = net_errc::publish_refused;
            break;
        default:
            break;
    }
    errno = saved;
    return {code, mosq_error(rc)};
}

void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what) {
    if (e.username.empty()) return;
    const int rc = mosquitto_username_pw_set(m, e.username.c_str(),
                                             e.password.empty() ? nullptr : e.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error(fmt::format("{}: credentials: {}", what, mosq_error(rc)));
    }
}

}  // namespace fogbridge
