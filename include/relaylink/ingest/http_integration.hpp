// ChirpStack's HTTP integration as an event source: a small Beast HTTP/1.1 server for its POSTs
// (`<url>?event=up|ack|txack|log|status|join|location`, JSON body).
//
// Each request is parsed and handed to the sink, then answered at once: the server never waits on
// storage (the service commits in batches on its own executor). ChirpStack neither retries nor
// waits more than 5 s, so a fast answer matters more than anything the answer says; errors are
// still precise so they read well in ChirpStack's log:
//   401 wrong or missing shared secret      413 body larger than body_limit
//   415 a protobuf body (set the integration's encoding to JSON)
//   400 no ?event=, an unknown event type, or not a readable event  404 another path   405 not POST
//   503 the connection limit is held by senders that proved themselves (answered at once, then closed)
//
// Held off: a new connection must send its first header within `header_timeout` and pass the secret
// check before it may stay (keep-alive, `idle_timeout`); at the connection limit the oldest connection
// that has proven nothing yet (or an idle keep-alive one) is closed to make room, and only when every
// slot is held by a proven sender is the newcomer answered 503. Warnings are written at most 10 a
// minute (the rest counted). Listening beyond loopback without a secret is warned about at start().
#pragma once

#include <relaylink/ingest/source.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace relaylink::ingest {

struct http_integration_config {
    std::string address = "127.0.0.1";
    unsigned short port = 0;            ///< 0: any free port (see port())
    std::string path = "/";             ///< the path ChirpStack posts to (the query is ?event=…)
    /// Non-empty: every request must carry `secret_header: secret` (set it among the integration's
    /// headers in ChirpStack). Compared in constant time.
    std::string secret;
    std::string secret_header = "X-Relaylink-Secret";
    std::size_t body_limit = 64 * 1024; ///< larger bodies: 413 (ChirpStack's events are a few KiB)
    std::size_t max_connections = 256;  ///< at most this many at once (see above: eviction, then 503)
    std::chrono::seconds idle_timeout{30}; ///< a keep-alive connection with no request is closed
    /// A new connection's first header (method, path, secret) must arrive within this, and a body
    /// within it after its header: a slow sender holds a slot no longer.
    std::chrono::milliseconds header_timeout{5000};
    log_fn log;
};

class http_integration {
public:
    /// Checks the configuration (std::invalid_argument naming the field); does not listen yet.
    http_integration(boost::asio::any_io_executor ex, http_integration_config cfg, event_sink sink);
    ~http_integration(); ///< stop()s
    http_integration(const http_integration&) = delete;
    http_integration& operator=(const http_integration&) = delete;

    /// Listen. Throws std::system_error when the address cannot be bound.
    void start();
    /// Stop accepting and close every connection.
    void stop();
    unsigned short port() const;
    std::string url() const; ///< "http://<address>:<port><path>"
    source_stats stats() const;
    const http_integration_config& settings() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace relaylink::ingest
