#include "common/mosq.hpp"

#include <fmt/format.h>

#include <cstring>
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

int copy_passphrase(const std::string& passphrase, char* buf, int size) {
    if (passphrase.empty() || size <= 0 || passphrase.size() >= static_cast<std::size_t>(size))
        return 0;
    std::memcpy(buf, passphrase.data(), passphrase.size());
    return static_cast<int>(passphrase.size());
}

void apply_tls(mosquitto* m, const tls_settings& tls, std::string_view what,
               passphrase_callback passphrase) {
    if (tls.ca_file.empty()) return;
    const char* cert = tls.cert_file.empty() ? nullptr : tls.cert_file.c_str();
    const char* key = tls.key_file.empty() ? nullptr : tls.key_file.c_str();
    int rc = mosquitto_tls_set(m, tls.ca_file.c_str(), nullptr, cert, key, passphrase);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw std::runtime_error(
            fmt::format("{}: TLS files not usable (ca {}, cert {}, key {}): {}", what, tls.ca_file,
                        tls.cert_file, tls.key_file, mosq_error(rc)));
    }
    // libmosquitto's "tlsv1.2" is a floor: TLS 1.3 stays allowed.
    rc = mosquitto_tls_opts_set(m, 1, "tlsv1.2", nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
        throw std::runtime_error(fmt::format("{}: TLS options: {}", what, mosq_error(rc)));
    mosquitto_tls_insecure_set(m, !tls.verify_hostname);
    if (!tls.alpn.empty()) {
        rc = mosquitto_string_option(m, MOSQ_OPT_TLS_ALPN, tls.alpn.c_str());
        if (rc != MOSQ_ERR_SUCCESS)
            throw std::runtime_error(fmt::format("{}: ALPN: {}", what, mosq_error(rc)));
    }
}

void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what) {
    if (e.username.empty()) return;
    const int rc = mosquitto_username_pw_set(m, e.username.c_str(),
                                             e.password.empty() ? nullptr : e.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS)
        throw std::runtime_error(fmt::format("{}: credentials: {}", what, mosq_error(rc)));
}

}  // namespace fogbridge
