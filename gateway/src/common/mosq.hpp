// Small helpers shared by the two libmosquitto clients (local ingest, cloud uplink). Thread-safe.
#pragma once

#include <mosquitto.h>

#include <string>

#include "config/config.hpp"

namespace fogbridge {

// Calls mosquitto_lib_init() once per process.
void ensure_mosquitto_init();

// Applies CA, client certificate, TLS >= 1.2, host name checking and ALPN. Throws
// std::runtime_error naming `what` when libmosquitto refuses a setting.
void apply_tls(mosquitto* m, const tls_settings& tls, std::string_view what);

// Applies user name and password when set.
void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what);

std::string mosq_error(int rc);

}  // namespace fogbridge
