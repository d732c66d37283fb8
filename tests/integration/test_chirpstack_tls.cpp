// HTTPS to ChirpStack: the certificate and the host name are verified by default. The test makes
// its own CA-less self-signed certificates with the openssl command line, in a temporary folder.
#include "../support/fake_http_server.hpp"

#include <relaylink/chirpstack/sync_client.hpp>

#include "../support/certs.hpp"
#include "../support/expect_api_error.hpp"
#include "../support/refusal_of.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace relaylink::chirpstack;

namespace {

using relaylink::test::test_certs;

config tls_cfg(const relaylink::test::fake_http_server& s) {
    config c;
    c.url = s.url();
    c.api_key = "k";
    c.retry.max_attempts = 1;
    return c;
}

relaylink::test::reply queue_reply() {
    relaylink::test::reply r;
    r.body = R"({"totalCount":0,"result":[]})";
    return r;
}

using relaylink::test::expect_api_error;

} // namespace

TEST(ChirpStackTls, ATrustedCertificateForTheHostWorks) {
    relaylink::test::fake_http_server s(test_certs().pem("good"), test_certs().key("good"));
    s.always("GET", "/api/devices/0102030405060708/queue", queue_reply());
    auto cfg = tls_cfg(s);
    cfg.ca_file = test_certs().pem("good");
    sync_client c(cfg);
    EXPECT_TRUE(c.get_queue("0102030405060708").empty());
    EXPECT_TRUE(c.get_queue("0102030405060708").empty());
    EXPECT_EQ(c.stats().connections_opened, 1u); // kept alive over TLS too
    auto local = cfg;
    local.url = "https://localhost:" + std::to_string(s.port()); // SNI and the DNS name
    EXPECT_TRUE(sync_client(local).get_queue("0102030405060708").empty());
}

TEST(ChirpStackTls, AnUntrustedCertificateIsRefused) {
    relaylink::test::fake_http_server s(test_certs().pem("good"), test_certs().key("good"));
    s.always("GET", "/api/devices/0102030405060708/queue", queue_reply());
    sync_client c(tls_cfg(s)); // the system's trust store does not know our self-signed certificate
    auto e = expect_api_error([&] { c.get_queue("0102030405060708"); });
    EXPECT_EQ(e.code(), errc::tls_error) << e.code().message();
    EXPECT_FALSE(e.details().request_sent);
    EXPECT_TRUE(s.requests().empty());
}

TEST(ChirpStackTls, ACertificateForAnotherHostIsRefused) {
    relaylink::test::fake_http_server s(test_certs().pem("other"), test_certs().key("other"));
    s.always("GET", "/api/devices/0102030405060708/queue", queue_reply());
    auto cfg = tls_cfg(s);
    cfg.ca_file = test_certs().pem("other"); // trusted, but issued for ns.example.org
    auto e = expect_api_error([&] { sync_client(cfg).get_queue("0102030405060708"); });
    EXPECT_EQ(e.code(), errc::tls_error);
    EXPECT_TRUE(s.requests().empty());
}

TEST(ChirpStackTls, VerificationCanBeTurnedOffDeliberately) {
    relaylink::test::fake_http_server s(test_certs().pem("other"), test_certs().key("other"));
    s.always("GET", "/api/devices/0102030405060708/queue", queue_reply());
    auto cfg = tls_cfg(s);
    cfg.verify_tls = false;
    EXPECT_TRUE(sync_client(cfg).get_queue("0102030405060708").empty());
}

TEST(ChirpStackTls, AMissingCaFileIsRefusedAtConstruction) {
    config cfg;
    cfg.url = "https://127.0.0.1:1";
    cfg.ca_file = "/nonexistent/ca.pem";
    const auto why = relaylink::test::refusal_of(cfg);
    EXPECT_NE(why.find("/nonexistent/ca.pem"), std::string::npos) << (why.empty() ? "accepted" : why);
}
