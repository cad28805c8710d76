// Small helpers shared by the two libmosquitto clients (local ingest, cloud uplink). Thread-safe.
#pragma once

#include <mosquitto.h>

#include <string>

#include "config/config.hpp"

namespace fogbridge {

// Calls mosquitto_lib_init() once per process.
void ensure_mosquitto_init();

// Writes the key passphrase into buf for an encrypted key; libmosquitto passes the client as
// userdata. Without one, libmosquitto would leave OpenSSL to ask on the terminal.
using passphrase_callback = int (*)(char* buf, int size, int rwflag, void* userdata);

// Copies passphrase into buf as an OpenSSL passphrase callback does: its length, or 0 (refusing)
// when it is empty or does not fit.
int copy_passphrase(const std::string& passphrase, char* buf, int size);

// Applies CA, client certificate and key (with `passphrase` for an encrypted key), TLS >= 1.2,
// host name checking and ALPN. Throws std::runtime_error naming `what` when libmosquitto refuses a
// setting.
void apply_tls(mosquitto* m, const tls_settings& tls, std::string_view what,
               passphrase_callback passphrase);

// Applies user name and password when set.
void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what);

std::string mosq_error(int rc);

}  // namespace fogbridge
