#include "ops/certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace fogbridge {
namespace {

struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};

}  // namespace

std::optional<double> certificate_not_after(std::string_view pem) {
    if (pem.empty() || pem.size() > static_cast<std::size_t>(INT32_MAX)) return std::nullopt;
    const std::unique_ptr<BIO, bio_free> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return std::nullopt;
    const std::unique_ptr<X509, x509_free> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return std::nullopt;
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return std::nullopt;
    return static_cast<double>(timegm(&tm));
}

std::optional<double> certificate_file_not_after(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return certificate_not_after(text);
}

double days_until(double not_after, double now) { return (not_after - now) / 86400.0; }

}  // namespace fogbridge
