// The ENGINE API is deprecated in OpenSSL 3 but is how Debian 12's libp11 (0.4.12) is reached;
// Debian 12 ships no PKCS#11 provider.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/hw_key.hpp"

#include <fmt/format.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

namespace fogbridge {
namespace {

std::mutex& hw_mutex() {
    static std::mutex m;
    return m;
}

// Every error on OpenSSL's queue, lower-cased, joined; clears the queue.
std::string drain_errors() {
    std::string all;
    const char* data = nullptr;
    int flags = 0;
    while (const unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        all += buf.data();
        if (data != nullptr && (flags & ERR_TXT_STRING) != 0) all += std::string(":") + data;
        all += '\n';
    }
    std::transform(all.begin(), all.end(), all.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return all;
}

bool has(const std::string& text, std::string_view what) {
    return text.find(what) != std::string::npos;
}

// The value of one attribute of a PKCS#11 URI ("" when absent), for messages.
std::string uri_attribute(const std::string& uri, std::string_view name) {
    const auto body = uri.substr(uri.find(':') + 1);
    std::size_t at = 0;
    while (at <= body.size()) {
        const auto end = std::min(body.find_first_of(";?", at), body.size());
        const auto part = body.substr(at, end - at);
        if (part.size() > name.size() && part.compare(0, name.size(), name) == 0 &&
            part[name.size()] == '=') {
            return part.substr(name.size() + 1);
        }
        at = end + 1;
    }
    return "";
}

// One engine per PKCS#11 module, initialised once and kept for the life of the process: libp11
// finalises the module when its engine is finished, which would end the sessions of keys in use.
ENGINE* pkcs11_engine(const std::string& module) {
    static std::map<std::string, ENGINE*> engines;
    if (auto it = engines.find(module); it != engines.end()) return it->second;
    ENGINE* e = ENGINE_by_id("pkcs11");
    if (e == nullptr) {
        drain_errors();
        throw std::runtime_error(
            "the OpenSSL pkcs11 engine cannot be loaded (Debian: libengine-pkcs11-openssl)");
    }
    ENGINE_ctrl_cmd_string(e, "QUIET", nullptr, 0);  // one line of our own instead of its stderr
    if ((!module.empty() && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module.c_str(), 0) != 1) ||
        ENGINE_init(e) != 1) {
        drain_errors();
        ENGINE_free(e);
        throw std::runtime_error(fmt::format("PKCS#11 module {} cannot be loaded",
                                             module.empty() ? "(default)" : module));
    }
    ENGINE_free(e);  // the functional reference from ENGINE_init keeps it
    engines.emplace(module, e);
    return e;
}

// libp11 says "object not found" for a missing token too: a token that holds any public key
// is there.
bool token_present(ENGINE* e, const std::string& token) {
    const std::string uri = fmt::format("pkcs11:token={};type=public", token);
    EVP_PKEY* any = ENGINE_load_public_key(e, uri.c_str(), nullptr, nullptr);
    drain_errors();
    EVP_PKEY_free(any);
    return any != nullptr;
}

EVP_PKEY* load_pkcs11(const hw_key_request& r) {
    ENGINE* e = pkcs11_engine(r.pkcs11_module);
    // The PIN goes to the engine directly, never through a URI or a command line.
    if (!r.pin.empty() && ENGINE_ctrl_cmd_string(e, "PIN", r.pin.c_str(), 0) != 1) {
        drain_errors();
        throw std::runtime_error("the pkcs11 engine refused the PIN");
    }
    ERR_clear_error();
    EVP_PKEY* key = ENGINE_load_private_key(e, r.uri.c_str(), nullptr, nullptr);
    if (!r.pin.empty()) ENGINE_ctrl_cmd_string(e, "PIN", "", 0);
    const std::string errors = drain_errors();
    if (key != nullptr) return key;
    const std::string token = uri_attribute(r.uri, "token");
    if (has(errors, "pin incorrect") || has(errors, "pin_incorrect") || has(errors, "pin len")) {
        throw std::runtime_error(fmt::format("wrong PIN for PKCS#11 token '{}'", token));
    }
    if (has(errors, "pin locked")) {
        throw std::runtime_error(fmt::format("PKCS#11 token '{}' is locked (PIN)", token));
    }
    if (has(errors, "object not found") && token_present(e, token)) {
        throw std::runtime_error(fmt::format("no key '{}' in PKCS#11 token '{}'",
                                             uri_attribute(r.uri, "object"), token));
    }
    throw std::runtime_error(fmt::format("no PKCS#11 token '{}' (not plugged in?)", token));
}

// The passphrase callback of the TPM key's authorization (a handle with "?pass", a key file
// created with a password).
int on_tpm_auth(char* buf, int size, int /*rwflag*/, void* userdata) {
    const auto* pin = static_cast<const std::string*>(userdata);
    if (pin == nullptr || pin->empty() || static_cast<int>(pin->size()) >= size) return -1;
    pin->copy(buf, pin->size());  // OpenSSL takes the length returned, no terminator
    return static_cast<int>(pin->size());
}

// tpm2-openssl reaches the TPM through the TCTI in TPM2OPENSSL_TCTI (default: /dev/tpmrm0 or
// tpm2-abrmd). The default provider stays the one preferred for everything else, so only the
// key's own operations go to the TPM.
void load_tpm_provider() {
    static bool loaded = false;
    if (loaded) return;
    setenv("TSS2_LOG", "all+none", 0);  // the TSS library would log to stderr
    if (OSSL_PROVIDER_load(nullptr, "default") == nullptr) {
        drain_errors();
        throw std::runtime_error("the OpenSSL default provider cannot be loaded");
    }
    if (OSSL_PROVIDER_load(nullptr, "tpm2") == nullptr) {
        const std::string errors = drain_errors();
        if (has(errors, "tcti") || has(errors, "cannot connect") || has(errors, "init")) {
            throw std::runtime_error("TPM unavailable (no TPM at TPM2OPENSSL_TCTI or /dev/tpmrm0)");
        }
        throw std::runtime_error(
            "TPM unavailable: the tpm2 OpenSSL provider cannot be loaded (Debian: tpm2-openssl)");
    }
    EVP_set_default_properties(nullptr, "?provider=default");
    loaded = true;
}

// OpenSSL 3.0 signs with the first provider that can take the key's public half (the default
// one), which then lacks the private half. The TPM key is therefore wrapped in a key whose
// ECDSA method signs through the tpm2 provider explicitly, as the engine's keys do.
void free_tpm_key(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(ptr));
}

int tpm_key_index() {
    static const int index = EC_KEY_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_tpm_key);
    return index;
}

int tpm_sign(int /*type*/, const unsigned char* dgst, int dlen, unsigned char* sig,
             unsigned int* siglen, const BIGNUM* /*kinv*/, const BIGNUM* /*r*/, EC_KEY* ec) {
    // One TPM connection serves both links' handshakes, one command at a time.
    static std::mutex tpm_mutex;
    const std::lock_guard lock(tpm_mutex);
    auto* key = static_cast<EVP_PKEY*>(EC_KEY_get_ex_data(ec, tpm_key_index()));
    EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_from_pkey(nullptr, key, "provider=tpm2");
    auto len = static_cast<std::size_t>(ECDSA_size(ec));
    const bool ok = c != nullptr && EVP_PKEY_sign_init(c) == 1 &&
                    EVP_PKEY_sign(c, sig, &len, dgst, static_cast<std::size_t>(dlen)) == 1;
    EVP_PKEY_CTX_free(c);
    *siglen = ok ? static_cast<unsigned int>(len) : 0;
    return ok ? 1 : 0;
}

ECDSA_SIG* tpm_sign_sig(const unsigned char* dgst, int dlen, const BIGNUM* kinv, const BIGNUM* r,
                        EC_KEY* ec) {
    std::array<unsigned char, 256> der{};
    unsigned int len = 0;
    if (ECDSA_size(ec) > static_cast<int>(der.size()) ||
        tpm_sign(0, dgst, dlen, der.data(), &len, kinv, r, ec) != 1) {
        return nullptr;
    }
    const unsigned char* p = der.data();
    return d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
}

EVP_PKEY* wrap_tpm_key(EVP_PKEY* tpm_key) {
    static EC_KEY_METHOD* method = [] {
        EC_KEY_METHOD* m = EC_KEY_METHOD_new(EC_KEY_get_default_method());
        EC_KEY_METHOD_set_sign(m, &tpm_sign, nullptr, &tpm_sign_sig);
        return m;
    }();
    EC_KEY* ec = EVP_PKEY_get1_EC_KEY(tpm_key);  // the public half
    EVP_PKEY* out = ec != nullptr ? EVP_PKEY_new() : nullptr;
    if (out == nullptr || EC_KEY_set_method(ec, method) != 1 ||
        EC_KEY_set_ex_data(ec, tpm_key_index(), tpm_key) != 1 ||
        EVP_PKEY_assign_EC_KEY(out, ec) != 1) {
        EC_KEY_free(ec);
        EVP_PKEY_free(out);
        EVP_PKEY_free(tpm_key);
        drain_errors();
        throw std::runtime_error("the TPM key is not an EC key (only EC keys are supported)");
    }
    return out;
}

EVP_PKEY* load_tpm(const hw_key_request& r) {
    load_tpm_provider();
    std::string uri = r.uri;
    if (!r.pin.empty() && uri.rfind("handle:", 0) == 0 && uri.find('?') == std::string::npos) {
        uri += "?pass";  // ask for the authorization value (the PIN file)
    }
    std::string pin = r.pin;
    UI_METHOD* ui = UI_UTIL_wrap_read_pem_callback(&on_tpm_auth, 0);
    ERR_clear_error();
    OSSL_STORE_CTX* store = OSSL_STORE_open_ex(uri.c_str(), nullptr, "?provider=tpm2", ui, &pin,
                                               nullptr, nullptr, nullptr);
    EVP_PKEY* key = nullptr;
    while (store != nullptr && key == nullptr && OSSL_STORE_eof(store) == 0) {
        OSSL_STORE_INFO* info = OSSL_STORE_load(store);
        if (info == nullptr) break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
            key = OSSL_STORE_INFO_get1_PKEY(info);
        }
        OSSL_STORE_INFO_free(info);
    }
    if (store != nullptr) OSSL_STORE_close(store);
    UI_destroy_method(ui);
    std::string errors = drain_errors();
    if (key != nullptr) {
        // A handle's authorization value is only checked when the key signs: sign once now, so
        // a wrong PIN stops start-up instead of failing every handshake.
        EVP_PKEY* wrapped = wrap_tpm_key(key);
        const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(wrapped);
        const std::array<unsigned char, 32> digest{};
        std::array<unsigned char, 256> sig{};
        unsigned int len = 0;
        if (ECDSA_size(ec) <= static_cast<int>(sig.size()) &&
            ECDSA_sign(0, digest.data(), static_cast<int>(digest.size()), sig.data(), &len,
                       const_cast<EC_KEY*>(ec)) == 1) {
            return wrapped;
        }
        EVP_PKEY_free(wrapped);
        errors = drain_errors();
        if (has(errors, "lockout") || has(errors, "not allowed at this time")) {
            throw std::runtime_error(fmt::format(
                "TPM key {} is locked out after wrong PINs (dictionary attack protection)", r.uri));
        }
        if (!has(errors, "authorization") && !has(errors, "hmac")) {
            throw std::runtime_error(fmt::format("TPM key {} cannot sign", r.uri));
        }
        errors = "authorization";
    }
    if (has(errors, "tcti") || has(errors, "connection") || has(errors, "io error")) {
        throw std::runtime_error(fmt::format("TPM unavailable while loading key {}", r.uri));
    }
    if (has(errors, "authorization") || has(errors, "auth_fail") || has(errors, "lockout") ||
        has(errors, "bad auth")) {
        throw std::runtime_error(fmt::format("wrong PIN for TPM key {}", r.uri));
    }
    throw std::runtime_error(fmt::format("no TPM key at {}", r.uri));
}

}  // namespace

key_source source_of_key(const std::string& key_file) {
    if (key_file.rfind("pkcs11:", 0) == 0) return key_source::pkcs11;
    if (key_file.rfind("handle:", 0) == 0) return key_source::tpm;
    std::ifstream in(key_file);
    std::string first;
    if (in && std::getline(in, first) && first.rfind("-----BEGIN TSS2 PRIVATE KEY-----", 0) == 0) {
        return key_source::tpm;
    }
    return key_source::pem;
}

EVP_PKEY* load_hw_key(const hw_key_request& request) {
    const std::lock_guard lock(hw_mutex());
    return source_of_key(request.uri) == key_source::pkcs11 ? load_pkcs11(request)
                                                            : load_tpm(request);
}

}  // namespace fogbridge
