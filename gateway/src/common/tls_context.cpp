#include "common/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/hw_key.hpp"

namespace fogbridge {
namespace {

int verify_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::string openssl_error() {
    const std::string e = openssl_error_text();
    return e.empty() ? "unknown error" : e;
}

// Records the first certificate problem of a handshake, so the log can say which check failed.
int on_verify(int ok, X509_STORE_CTX* store) {
    if (ok == 0) {
        auto* ssl = static_cast<SSL*>(
            X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
        auto* ctx = SSL_get_SSL_CTX(ssl);
        auto* error = static_cast<std::string*>(SSL_CTX_get_ex_data(ctx, verify_index()));
        if (error != nullptr && error->empty()) {
            *error = fmt::format("the broker's certificate: {}",
                                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
        }
    }
    return ok;
}

int on_passphrase(char* buf, int size, int /*rwflag*/, void* userdata) {
    const auto* pass = static_cast<const std::string*>(userdata);
    if (pass == nullptr || pass->empty() || static_cast<int>(pass->size()) >= size) return 0;
    pass->copy(buf, pass->size());  // OpenSSL takes the length returned, no terminator
    return static_cast<int>(pass->size());
}

// Reading one key: the passphrase, and whether OpenSSL asked for it (the key is encrypted).
struct key_read {
    std::string* passphrase;
    bool asked = false;
};

int on_key_passphrase(char* buf, int size, int rwflag, void* userdata) {
    auto* read = static_cast<key_read*>(userdata);
    read->asked = true;
    return on_passphrase(buf, size, rwflag, read->passphrase);
}

// Why a key could not be read, without ever quoting the passphrase.
std::string key_problem(const std::string& file, const key_read& read) {
    if (!read.asked) return fmt::format("key {} cannot be read (not a PEM private key)", file);
    if (read.passphrase->empty()) {
        return fmt::format("key {} is encrypted and no key_passphrase is configured", file);
    }
    return fmt::format("key {} cannot be decrypted: wrong key_passphrase", file);
}

std::string key_name(const tls_settings& tls, std::string_view key) {
    return tls.section.empty() ? std::string(key) : fmt::format("{}.{}", tls.section, key);
}

// Refuses a secret that group or others may read, as ssh does for its keys: any access by
// others, or by the group when the file is ours (a key owned by root and given to our group,
// as Kubernetes and the compose set-up mount it, is fine).
void require_private(const std::string& file, const std::string& key) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return;  // reading it says why
    const auto mode = st.st_mode & 0777U;
    if ((mode & 0007U) != 0 || (st.st_uid == ::geteuid() && (mode & 0070U) != 0)) {
        throw std::runtime_error(
            fmt::format("{}: {} is accessible by {} (mode {:04o}); chmod 600 it", key, file,
                        (mode & 0007U) != 0 ? "others" : "its group", mode));
    }
}

// The first line of a secret file, without its line end.
std::string read_secret(const std::string& file, const std::string& key) {
    require_private(file, key);
    std::ifstream in(file);
    std::string line;
    if (!in) throw std::runtime_error(fmt::format("{}: {} cannot be read", key, file));
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw std::runtime_error(fmt::format("{}: {} is empty", key, file));
    return line;
}

std::string secret_of(const tls_settings& tls) {
    if (tls.key_passphrase_file.empty()) return tls.key_passphrase;
    return read_secret(tls.key_passphrase_file, key_name(tls, "key_passphrase_file"));
}

// A CA file without a certificate would verify nothing: refuse it rather than trust nobody
// silently or, worse, fall back to anything.
void require_certificates(const std::string& file, const std::string& key) {
    BIO* bio = BIO_new_file(file.c_str(), "r");
    if (bio == nullptr) {
        ERR_clear_error();
        throw std::runtime_error(fmt::format("{}: {} cannot be read", key, file));
    }
    STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    int certs = 0;
    for (int i = 0; infos != nullptr && i < sk_X509_INFO_num(infos); ++i) {
        certs += sk_X509_INFO_value(infos, i)->x509 != nullptr ? 1 : 0;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
    if (certs == 0) throw std::runtime_error(fmt::format("{}: {} holds no certificate", key, file));
}

// Every CA of the broker's chain must have its CRL in the file: a missing one fails the
// handshake ("unable to get certificate CRL") rather than skipping the check.
void use_crls(SSL_CTX* ctx, const tls_settings& tls) {
    const std::string key = key_name(tls, "crl_file");
    X509_LOOKUP* lookup = X509_STORE_add_lookup(SSL_CTX_get_cert_store(ctx), X509_LOOKUP_file());
    const int n =
        lookup == nullptr ? 0 : X509_load_crl_file(lookup, tls.crl_file.c_str(), X509_FILETYPE_PEM);
    ERR_clear_error();
    if (n <= 0) {
        throw std::runtime_error(
            fmt::format("{}: {} cannot be read or holds no CRL", key, tls.crl_file));
    }
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
                                X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

double days_until(const ASN1_TIME* t) {
    int days = 0;
    int secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, t) != 1) return 0;
    return days + secs / 86400.0;
}

// Verifies our own certificate against the CA file as a broker of that CA would; "" when fine.
// A client CA file of its own (a cloud that issues client certificates from another CA than its
// server's) replaces ca_file here; the chain sent with the certificate counts as untrusted.
net_error check_client_chain(SSL_CTX* ctx, X509* cert, const tls_settings& tls) {
    X509_STORE* own = nullptr;
    if (!tls.client_ca_file.empty()) {
        require_certificates(tls.client_ca_file, key_name(tls, "client_ca_file"));
        own = X509_STORE_new();
        if (X509_STORE_load_file(own, tls.client_ca_file.c_str()) != 1) {
            X509_STORE_free(own);
            throw std::runtime_error(fmt::format("{}: {} cannot be used: {}",
                                                 key_name(tls, "client_ca_file"),
                                                 tls.client_ca_file, openssl_error()));
        }
    }
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    X509_STORE_CTX* sc = X509_STORE_CTX_new();
    X509_STORE_CTX_init(sc, own != nullptr ? own : SSL_CTX_get_cert_store(ctx), cert, chain);
    X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_CLIENT);
    const int ok = X509_verify_cert(sc);
    const int err = X509_STORE_CTX_get_error(sc);
    X509_STORE_CTX_free(sc);
    const std::string& against = own != nullptr ? tls.client_ca_file : tls.ca_file;
    X509_STORE_free(own);
    if (ok == 1) return {};
    return {net_errc::tls_setup,
            fmt::format("client certificate {} does not verify against {}: {}", tls.cert_file,
                        against, X509_verify_cert_error_string(err))};
}

}  // namespace

std::string openssl_error_text() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "";
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    return buf.data();
}

tls_context::tls_context(const tls_settings& tls, const std::string& host, double /*now*/)
    : verify_error_(std::make_unique<std::string>()), passphrase_(secret_of(tls)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) {
        throw std::runtime_error("TLS: cannot create a context: " + openssl_error());
    }
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_ex_data(ctx_, verify_index(), verify_error_.get());
    SSL_CTX_set_default_passwd_cb(ctx_, &on_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx_, &passphrase_);
    try {
        require_certificates(tls.ca_file, key_name(tls, "ca_file"));
        if (SSL_CTX_load_verify_locations(ctx_, tls.ca_file.c_str(), nullptr) != 1) {
            throw std::runtime_error(
                fmt::format("CA file {} cannot be used: {}", tls.ca_file, openssl_error()));
        }
        if (!tls.crl_file.empty()) use_crls(ctx_, tls);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, &on_verify);
        if (tls.verify_hostname) {
            X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx_);
            // An address is checked against the certificate's IP entries, a name against DNS names.
            if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
                X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
            }
        }
        if (!tls.alpn.empty()) {
            std::string wire(1, static_cast<char>(tls.alpn.size()));
            wire += tls.alpn;
            SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                                    static_cast<unsigned>(wire.size()));
        }
        if (!tls.cert_file.empty()) {
            if (SSL_CTX_use_certificate_chain_file(ctx_, tls.cert_file.c_str()) != 1) {
                throw std::runtime_error(fmt::format("certificate {} cannot be used: {}",
                                                     tls.cert_file, openssl_error()));
            }
            X509* cert = SSL_CTX_get0_certificate(ctx_);
            use_key(cert, tls);
            days_left_ = days_until(X509_get0_notAfter(cert));
            chain_problem_ = check_client_chain(ctx_, cert, tls);
        }
    } catch (...) {
        SSL_CTX_free(ctx_);
        throw;
    }
}

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

void tls_context::use_key(X509* cert, const tls_settings& tls) {
    if (source_of_key(tls.key_file) != key_source::pem) {
        std::string pin = tls.key_pin_file.empty()
                              ? std::string()
                              : read_secret(tls.key_pin_file, key_name(tls, "key_pin_file"));
        EVP_PKEY* key = load_hw_key({tls.key_file, pin, tls.pkcs11_module});
        std::fill(pin.begin(), pin.end(), '\0');
        install_key(cert, key, tls);
        return;
    }
    require_private(tls.key_file, key_name(tls, "key_file"));
    BIO* bio = BIO_new_file(tls.key_file.c_str(), "r");
    if (bio == nullptr) {
        throw std::runtime_error(fmt::format("key {} cannot be opened", tls.key_file));
    }
    key_read read{&passphrase_};
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, &on_key_passphrase, &read);
    BIO_free(bio);
    if (key == nullptr) {
        ERR_clear_error();
        throw std::runtime_error(key_problem(tls.key_file, read));
    }
    install_key(cert, key, tls);
}

void tls_context::install_key(X509* cert, EVP_PKEY* key, const tls_settings& tls) {
    const bool matches = X509_check_private_key(cert, key) == 1;
    const bool used = matches && SSL_CTX_use_PrivateKey(ctx_, key) == 1;
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!matches) {
        throw std::runtime_error(
            fmt::format("key {} does not match certificate {}", tls.key_file, tls.cert_file));
    }
    if (!used) throw std::runtime_error(fmt::format("key {} cannot be used", tls.key_file));
}

std::string credential_stamp(const tls_settings& tls) {
    std::string stamp;
    for (const auto& f : {tls.ca_file, tls.cert_file, tls.key_file, tls.crl_file,
                          tls.client_ca_file, tls.key_pin_file, tls.key_passphrase_file}) {
        if (f.empty()) continue;
        std::error_code ec;
        const auto t = std::filesystem::last_write_time(f, ec);
        const auto size = std::filesystem::file_size(f, ec);
        stamp += fmt::format("{}:{}:{};", f, ec ? 0 : t.time_since_epoch().count(), ec ? 0 : size);
    }
    return stamp;
}

}  // namespace fogbridge
