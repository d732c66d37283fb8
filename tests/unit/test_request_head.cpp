// The request text the ChirpStack client writes by hand (src/chirpstack/request_head.hpp): byte for byte what
// Beast's message serialized for the same calls, and a configuration whose fields would break the head refused.
#include "../../src/chirpstack/http_pool.hpp"
#include "../../src/chirpstack/request_head.hpp"

#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include <sstream>

using namespace relaylink::chirpstack;
using namespace relaylink::chirpstack::detail;
namespace http = boost::beast::http;

namespace {

/// What the client sent before (its Beast message, built with the same calls), as text.
std::string by_beast(const config& cfg, const std::string& host, method m, const std::string& target, const std::string& body) {
    const http::verb verbs[] = {http::verb::get, http::verb::post, http::verb::put, http::verb::delete_};
    http::request<http::string_body> r{verbs[static_cast<int>(m)], target, 11};
    r.set(http::field::host, host);
    r.set(http::field::user_agent, cfg.user_agent);
    r.set(http::field::accept, "application/json");
    for (const auto& [name, value] : cfg.headers) r.set(name, value);
    if (!cfg.api_key.empty())
        r.set(cfg.header == auth_header::authorization ? "Authorization" : "Grpc-Metadata-Authorization", "Bearer " + cfg.api_key);
    if (!body.empty()) {
        r.set(http::field::content_type, "application/json");
        r.body() = body;
    }
    r.keep_alive(true);
    r.prepare_payload();
    std::ostringstream out;
    out << r;
    return out.str();
}

std::string by_hand(const config& cfg, const std::string& host, method m, const std::string& prefix, const std::string& target,
                    const std::string& body) {
    return request_text(m, prefix, target, fixed_fields(cfg, host), body);
}

} // namespace

TEST(RequestHead, IsWhatBeastsMessageWasForEveryMethodBodyAndHeaderCombination) {
    config plain;
    plain.api_key = "k-123";
    config bearer = plain;
    bearer.header = auth_header::authorization;
    config proxied = plain;
    proxied.headers = {{"X-Proxy-Token", "p q\tr"}, {"user-agent", "portal/2"}, {"Accept", "*/*"}};
    config own_auth; // no API key: a configured Authorization is sent as it is
    own_auth.header = auth_header::authorization;
    own_auth.headers = {{"Authorization", "Basic abc"}};
    config replaced_auth = bearer; // an API key's header replaces a configured one of the same name
    replaced_auth.headers = {{"authorization", "Basic abc"}, {"Host", "virtual.example"}};
    const std::string body = R"({"queueItem":{"confirmed":true,"fPort":5,"data":"AQUAAAAAzco="},"flushQueue":false})";
    int compared = 0;
    for (const auto* cfg : {&plain, &bearer, &proxied, &own_auth, &replaced_auth})
        for (method m : {method::get, method::post, method::put, method::del})
            for (const std::string& b : {std::string{}, body}) {
                if (m == method::get && !b.empty()) continue; // the client never sends one
                const std::string target = "/api/devices/0102030405060708/queue";
                EXPECT_EQ(by_hand(*cfg, "cs.example:8090", m, "", target, b), by_beast(*cfg, "cs.example:8090", m, target, b))
                    << "method " << static_cast<int>(m) << ", body " << b.size();
                EXPECT_EQ(by_hand(*cfg, "[::1]", m, "/prefix", target, b), by_beast(*cfg, "[::1]", m, "/prefix" + target, b));
                compared += 2;
            }
    EXPECT_EQ(compared, 70);
}

TEST(RequestHead, ReadsAsExpected) {
    config cfg;
    cfg.api_key = "k";
    EXPECT_EQ(by_hand(cfg, "h:1", method::post, "/p", "/q", "{}"),
              "POST /p/q HTTP/1.1\r\nHost: h:1\r\nUser-Agent: relaylink/0.1\r\nAccept: application/json\r\n"
              "Grpc-Metadata-Authorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(by_hand(cfg, "h", method::post, "", "/q", ""),
              "POST /q HTTP/1.1\r\nHost: h\r\nUser-Agent: relaylink/0.1\r\nAccept: application/json\r\n"
              "Grpc-Metadata-Authorization: Bearer k\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(by_hand(cfg, "h", method::get, "", "/q", ""),
              "GET /q HTTP/1.1\r\nHost: h\r\nUser-Agent: relaylink/0.1\r\nAccept: application/json\r\n"
              "Grpc-Metadata-Authorization: Bearer k\r\n\r\n");
    cfg.user_agent.clear(); // no User-Agent field rather than an empty one
    EXPECT_EQ(fixed_fields(cfg, "h"), "Host: h\r\nAccept: application/json\r\nGrpc-Metadata-Authorization: Bearer k\r\n");
}

TEST(RequestHead, FieldsThatWouldBreakTheHeadAreRefusedByName) {
    auto why = [](auto edit) {
        config c;
        c.api_key = "k";
        edit(c);
        const auto bad = check_fields(c);
        return bad ? bad->message : std::string();
    };
    auto field = [](auto edit) {
        config c;
        edit(c);
        const auto bad = check_fields(c);
        return bad ? bad->field : std::string("(none)");
    };
    EXPECT_EQ(why([](config&) {}), "");
    EXPECT_EQ(why([](config& c) { c.headers = {{"X-Ok", "a\tb c"}}; }), "");
    // Each refusal names its setting (the Python module's ConfigError.field).
    EXPECT_EQ(field([](config&) {}), "(none)");
    EXPECT_EQ(field([](config& c) { c.headers = {{"X Bad", "v"}}; }), "headers");
    EXPECT_EQ(field([](config& c) { c.headers = {{"Connection", "close"}}; }), "headers");
    EXPECT_EQ(field([](config& c) { c.user_agent = "ua\r"; }), "user_agent");
    EXPECT_EQ(field([](config& c) { c.api_key = std::string("k\0", 2); }), "api_key");
    EXPECT_NE(why([](config& c) { c.headers = {{"X Bad", "v"}}; }).find("'X Bad' is not a field name"), std::string::npos);
    EXPECT_NE(why([](config& c) { c.headers = {{"", "v"}}; }).find("is not a field name"), std::string::npos);
    EXPECT_NE(why([](config& c) { c.headers = {{"X-A:", "v"}}; }).find("is not a field name"), std::string::npos);
    EXPECT_NE(why([](config& c) { c.headers = {{"X-A", "v\r\nX-Injected: 1"}}; }).find("'X-A' has a control character"),
              std::string::npos);
    EXPECT_NE(why([](config& c) { c.headers = {{"X-A", std::string("v\0w", 3)}}; }).find("control character"), std::string::npos);
    for (const char* own : {"content-length", "Content-Type", "TRANSFER-ENCODING", "Connection"})
        EXPECT_NE(why([&](config& c) { c.headers = {{own, "1"}}; }).find("the client sets it for each request"), std::string::npos)
            << own;
    EXPECT_NE(why([](config& c) { c.user_agent = "ua\n"; }).find("user_agent has a control character"), std::string::npos);
    const auto key = why([](config& c) { c.api_key = "secret-key\n"; });
    EXPECT_NE(key.find("API key has a control character"), std::string::npos);
    EXPECT_EQ(key.find("secret"), std::string::npos) << key;
}

TEST(RequestHead, AUrlWithSpacesOrControlsIsRefused) {
    base_url u;
    std::string why;
    EXPECT_TRUE(parse_base_url("http://cs.example:8090/api-prefix", u, why)) << why;
    for (const char* bad : {"http://cs.example/pre fix", "http://cs.example/p\r\nX: 1", "http://cs.example:8090\t"}) {
        EXPECT_FALSE(parse_base_url(bad, u, why)) << bad;
        EXPECT_NE(why.find("must not contain spaces or control characters"), std::string::npos) << why;
    }
}
