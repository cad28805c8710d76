// Private keys that never leave hardware: a PKCS#11 token (through the libp11 "pkcs11" engine)
// or a TPM 2.0 (through the tpm2-openssl provider). Thread-safe: the engines and the provider are
// process-wide and loaded once, under a lock.
#pragma once

#include <string>

struct evp_pkey_st;

namespace fogbridge {

enum class key_source {
    pem,     // a PEM file on disk
    pkcs11,  // "pkcs11:token=...;object=..."
    tpm,     // "handle:0x81000001" or a file holding a "TSS2 PRIVATE KEY"
};

// Where `key_file` (a path or a URI) keeps its key.
key_source source_of_key(const std::string& key_file);

struct hw_key_request {
    std::string uri;            // key_file as configured
    std::string pin;            // token PIN or TPM key authorization; may be empty
    std::string pkcs11_module;  // PKCS#11 module; empty: the engine's default (p11-kit-proxy)
};

// Loads the key. Throws std::runtime_error with one line saying which of: the module or the
// TPM cannot be reached, no such token, wrong PIN, no such key. Never quotes the PIN.
evp_pkey_st* load_hw_key(const hw_key_request& request);

}  // namespace fogbridge
