// Private: the HTTP/1.1 connection pool behind chirpstack::client (Beast, one host, keep-alive).
#pragma once

#include <relaylink/chirpstack/client.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace relaylink::chirpstack::detail {

struct http_request {
    method verb = method::get;
    std::string target; ///< path and query, without the URL's prefix
    std::string body;   ///< JSON; empty: no body
};

struct http_response {
    unsigned status = 0;
    std::string body;
};

/// The parts of a base URL.
struct base_url {
    bool tls = false;
    std::string host;   ///< without brackets for IPv6
    std::string port;
    std::string prefix; ///< path prefix without trailing '/', may be empty
};

/// Parse "http://host:port/prefix"; `why` explains a refusal.
bool parse_base_url(const std::string& url, base_url& out, std::string& why);

class http_pool {
public:
    static std::shared_ptr<http_pool> create(asio::any_io_executor ex, const config& cfg, base_url url);
    virtual ~http_pool() = default;

    /// One logical request: acquire a connection, write, read, with retries of idempotent methods.
    /// Completes with the response for 2xx; for other statuses with the mapped error and the response.
    virtual void async_exchange(http_request req, diagnostics* diag,
                                asio::any_completion_handler<void(error_code, http_response)> handler) = 0;
    virtual client_stats stats() const = 0;
    virtual void close_idle() = 0;
};

} // namespace relaylink::chirpstack::detail
