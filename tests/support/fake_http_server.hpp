// A scripted HTTP/1.1 server on 127.0.0.1 for tests: it answers each request from a script
// (status, body, chunked, delay, dropped connection, raw garbage) and records what it received.
// It runs on its own thread, so tests may use blocking clients against it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace relaylink::test {

struct reply {
    unsigned status = 200;
    std::string body = "{}";
    std::vector<std::pair<std::string, std::string>> headers;
    bool chunked = false;                 ///< Transfer-Encoding: chunked instead of Content-Length
    std::chrono::milliseconds delay{0};   ///< wait before answering
    bool drop = false;                    ///< close the connection instead of answering
    bool close_after = false;             ///< answer, then close silently (no Connection: close header)
    bool connection_close = false;        ///< answer with Connection: close
    std::string raw;                      ///< when set: write these bytes instead of an HTTP response, then close
};

struct recorded {
    std::string method;
    std::string target;
    std::string body;
    std::map<std::string, std::string> headers; ///< names lower-cased
    int connection = 0;                         ///< which accepted connection carried it (1-based)
};

class fake_http_server {
public:
    /// Plain HTTP; with a certificate and key (PEM files), HTTPS.
    explicit fake_http_server(const std::string& cert_file = {}, const std::string& key_file = {});
    ~fake_http_server();

    unsigned short port() const;
    std::string url() const; ///< "http://127.0.0.1:<port>" (https when TLS)
    int tls_failures() const; ///< TLS handshakes the client broke off (it refused the certificate)

    /// The next request matching (method, target) gets `r`, once; expectations are used in order.
    void expect(const std::string& method, const std::string& target, reply r);
    /// Every request matching (method, target) not taken by an expectation gets `r`.
    void always(const std::string& method, const std::string& target, reply r);

    std::vector<recorded> requests() const;
    int connections() const;
    void reset();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace relaylink::test
