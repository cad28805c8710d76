// How to reach a broker (host, credentials, TLS files): the settings both links share.
// Plain values; not thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace fogbridge {

struct tls_settings {
    std::string ca_file;    // required unless the endpoint says plain_tcp
    std::string cert_file;  // client certificate (mutual TLS)
    std::string key_file;
    std::string key_passphrase;
    bool verify_hostname = true;
    std::string alpn;  // e.g. "mqtt" for brokers that take MQTT on port 443

    // Hardware keys, secrets from files, revocation (docs/hardware-keys.md).
    std::string key_passphrase_file;  // the passphrase on the first line of this file
    std::string key_pin_file;         // PIN of a PKCS#11 token / TPM key authorization
    std::string pkcs11_module;        // PKCS#11 module for a pkcs11: key_file
    std::string crl_file;             // CRLs checked against the broker's chain
    std::string client_ca_file;       // the CA that vouches for our certificate (default: ca_file)
    std::string section;              // "local" or "cloud", for messages naming a key
};

struct endpoint_settings {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::string client_id;  // default: derived from the gateway id
    std::string username;
    std::string password;
    int keepalive = 30;
    tls_settings tls;
    bool plain_tcp = false;  // no TLS: only when the config says so (ca_file must then be empty)
    std::size_t max_packet_bytes = 262144;  // local link only: largest MQTT packet taken
};

}  // namespace fogbridge
