// What relaylink shows of a connection string, a URL or a message that may carry a secret.
#include <relaylink/redact.hpp>

#include <gtest/gtest.h>

using relaylink::redact_dsn;
using relaylink::redact_url;
using relaylink::scrub;

TEST(Redact, EveryPasswordOfAPostgresUrlIsHidden) {
    EXPECT_EQ(redact_dsn("postgresql://relaylink:hunter2@db:5432/portal"), "postgresql://relaylink:***@db:5432/portal");
    EXPECT_EQ(redact_dsn("postgres://u:p%40ss@db/portal?sslmode=require&password=again"),
              "postgres://u:***@db/portal?sslmode=require&password=***");
    EXPECT_EQ(redact_dsn("postgresql://db/portal?password=only"), "postgresql://db/portal?password=***");
    EXPECT_EQ(redact_dsn("postgresql://relaylink@db/portal"), "postgresql://relaylink@db/portal");
    EXPECT_EQ(redact_dsn(":memory:"), ":memory:");
    EXPECT_EQ(redact_dsn("/var/lib/relaylink.db"), "/var/lib/relaylink.db");
}

TEST(Redact, EveryPasswordOfALibpqKeywordStringIsHidden) {
    EXPECT_EQ(redact_dsn("host=db port=5432 dbname=portal user=relaylink password=hunter2"),
              "host=db port=5432 dbname=portal user=relaylink password=***");
    EXPECT_EQ(redact_dsn("password = hunter2 host=db"), "password = *** host=db");
    EXPECT_EQ(redact_dsn("host=db password='hunter 2 \\' x' user=u"), "host=db password=*** user=u");
    EXPECT_EQ(redact_dsn("host=db password=a password=b"), "host=db password=*** password=***");
    EXPECT_EQ(redact_dsn("host=db passwordless=1"), "host=db passwordless=1");
    EXPECT_EQ(redact_dsn("host=db password='unterminated"), "host=db password=***");
}

TEST(Redact, AUrlLosesItsCredentialsQueryAndFragment) {
    EXPECT_EQ(redact_url("http://host:8090/api?api_key=k"), "http://host:8090/api?***");
    EXPECT_EQ(redact_url("https://user:pw@host/x"), "https://***@host/x");
    EXPECT_EQ(redact_url("tcp://u:p@broker:1883"), "tcp://***@broker:1883");
    EXPECT_EQ(redact_url("http://host/#frag"), "http://host/#***");
    EXPECT_EQ(redact_url("http://localhost:8090"), "http://localhost:8090");
}

TEST(Redact, ScrubReplacesEveryOccurrenceAndNothingForAnEmptySecret) {
    EXPECT_EQ(scrub("key k1 and k1 again", "k1"), "key *** and *** again");
    EXPECT_EQ(scrub("nothing", ""), "nothing");
    EXPECT_EQ(scrub("***", "*"), "*********");
}
