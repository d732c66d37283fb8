// The tests' PostgreSQL server (tests/support/pg_server.sh, started once for the whole ctest run as
// the fixture "postgres"): its URL, and a fresh schema name for each store a test opens, so tests
// sharing the server never see each other's rows.
//
// Without a server (PostgreSQL not installed) PostgreSQL tests are skipped, or fail when
// RELAYLINK_REQUIRE_POSTGRES=1 (scripts/test.sh sets it: CI must not pass by skipping).
#pragma once

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

namespace relaylink::test {

inline std::optional<std::string> postgres_url() {
    const char* file = std::getenv("RELAYLINK_TEST_PG_URL_FILE");
    if (!file) return std::nullopt;
    std::ifstream in(file);
    std::string url;
    if (!std::getline(in, url) || url.empty()) return std::nullopt;
    return url;
}

/// The CA that signed the test server's certificate (pg_server.sh writes it beside the URL).
inline std::string postgres_ca() {
    const std::string file = std::getenv("RELAYLINK_TEST_PG_URL_FILE");
    return file.substr(0, file.rfind('/')) + "/ca.pem";
}

inline bool postgres_required() {
    const char* v = std::getenv("RELAYLINK_REQUIRE_POSTGRES");
    return v && std::string(v) == "1";
}

inline std::string fresh_schema(const std::string& tag) {
    static std::atomic<int> n{0};
    return "t_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

} // namespace relaylink::test

/// In a test body: `url` becomes the server's URL, or the test is skipped (failed when required).
#define RELAYLINK_POSTGRES_OR_SKIP(url)                                                                      \
    const auto url##_opt = ::relaylink::test::postgres_url();                                                \
    if (!url##_opt) {                                                                                        \
        if (::relaylink::test::postgres_required()) FAIL() << "no test PostgreSQL server (see pg_server.sh)"; \
        GTEST_SKIP() << "no test PostgreSQL server: install postgresql-15";                                  \
    }                                                                                                        \
    const std::string url = *url##_opt
