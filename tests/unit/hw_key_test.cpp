// Which store a key_file names, and the TLS file keys' checks at configuration time.
#include "common/hw_key.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "config/config.hpp"

using namespace fogbridge;

TEST_CASE("key_file names a PEM file, a PKCS#11 token or a TPM key") {
    CHECK(source_of_key("pkcs11:token=fogbridge;object=gateway") == key_source::pkcs11);
    CHECK(source_of_key("handle:0x81000001") == key_source::tpm);
    CHECK(source_of_key("/nonexistent/gateway.key") == key_source::pem);
    const std::string tss2 = "hw_key_test.tss2.pem";
    std::ofstream(tss2)
        << "-----BEGIN TSS2 PRIVATE KEY-----\nAAAA\n-----END TSS2 PRIVATE KEY-----\n";
    CHECK(source_of_key(tss2) == key_source::tpm);
    std::ofstream(tss2) << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    CHECK(source_of_key(tss2) == key_source::pem);
    std::remove(tss2.c_str());
}

TEST_CASE("a passphrase and a passphrase file exclude each other, naming the key") {
    // Both links need a CA file (or plain_tcp), else that is the first error.
    const env_map tls{{"FOGBRIDGE_LOCAL_CA_FILE", "ca.crt"}, {"FOGBRIDGE_CLOUD_CA_FILE", "ca.crt"}};
    CHECK_THROWS_WITH_AS(
        parse_config("[cloud]\nkey_passphrase = \"x\"\nkey_passphrase_file = \"/p\"\n", tls),
        "cloud.key_passphrase_file: set cloud.key_passphrase or this, not both", config_error);
    const auto c = parse_config("[local]\ncrl_file = \"/c.crl\"\nkey_pin_file = \"/pin\"\n", tls);
    CHECK(c.local.tls.crl_file == "/c.crl");
    CHECK(c.local.tls.key_pin_file == "/pin");
    CHECK(c.local.tls.section == "local");
    CHECK(c.cloud.endpoint.tls.section == "cloud");
}
