// TLS credentials for a client connection (uplink, local link), loaded and checked once (CA,
// CRLs, client certificate, key: a PEM file or a key in a PKCS#11 token or a TPM, see
// hw_key.hpp), held as an OpenSSL SSL_CTX that every connection attempt reuses.
// Rotation builds a new one and keeps the old one when the new files are bad. Not thread-safe:
// the link's thread owns it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/endpoint.hpp"
#include "common/net_error.hpp"

struct ssl_ctx_st;
struct x509_st;
struct evp_pkey_st;

namespace fogbridge {

class tls_context final {
  public:
    // Throws std::runtime_error with one line naming the file and the problem (unreadable CA,
    // a CA file without a certificate, certificate or key; an encrypted key without a passphrase
    // or with a wrong one, which the line never quotes; a key file others may read; a token or
    // TPM problem; a key that does not match the certificate).
    tls_context(const tls_settings& tls, const std::string& host, double now);
    ~tls_context();
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    ssl_ctx_st* native() const { return ctx_; }
    // Days until the client certificate expires (negative once expired); none without one.
    std::optional<double> days_left() const { return days_left_; }
    // Why the client certificate does not verify against the CA file (expired, not yet valid,
    // another issuer): net_errc::tls_setup with the words; a default (false) one when it does.
    // A broker may still accept a certificate of another CA.
    const net_error& chain_problem() const { return chain_problem_; }
    // Why the last handshake's certificate check failed ("certificate has expired", ...).
    const std::string& last_verify_error() const { return *verify_error_; }
    void clear_verify_error() { verify_error_->clear(); }

  private:
    void use_key(x509_st* cert, const tls_settings& tls);
    void install_key(x509_st* cert, evp_pkey_st* key, const tls_settings& tls);

    ssl_ctx_st* ctx_ = nullptr;
    std::optional<double> days_left_;
    net_error chain_problem_;
    std::unique_ptr<std::string> verify_error_;  // stable address for the verify callback
    std::string passphrase_;
};

// The first error on OpenSSL's queue as text ("" when none), clearing the queue.
std::string openssl_error_text();

// Modification stamp of the credential files, to notice a rotation on disk.
std::string credential_stamp(const tls_settings& tls);

}  // namespace fogbridge
