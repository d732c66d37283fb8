// The asynchronous ChirpStack v4 REST client: device queue (enqueue, read, flush), devices, and a
// generic JSON call for the management API. HTTP/1.1 keep-alive over a bounded connection pool,
// TLS with certificate and host-name verification, a timeout per operation, retries of idempotent
// calls with exponential backoff and jitter. Every call validates its arguments before sending.
//
// Completion signatures are `void(error_code, T)`; each call also has an overload taking a
// `diagnostics&` that receives ChirpStack's message, the HTTP status and the attempt count.
// Cancellation: terminal cancellation through the handler's cancellation slot aborts the call
// (its connection is closed, never reused) and completes with asio::error::operation_aborted.
// The client starts no threads; it runs on the executor it is given (internally serialised by a strand).
#pragma once

#include <relaylink/chirpstack/config.hpp>
#include <relaylink/chirpstack/error.hpp>
#include <relaylink/chirpstack/types.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relaylink::chirpstack {

namespace asio = boost::asio;

enum class method : std::uint8_t { get, post, put, del };

/// Counters, for tests, benchmarks and monitoring.
struct client_stats {
    std::uint64_t requests = 0;           ///< HTTP requests written (retries included)
    std::uint64_t connections_opened = 0; ///< TCP (and TLS) connections established
    std::uint64_t connections_reused = 0; ///< requests sent on a kept-alive connection
    std::uint64_t retries = 0;            ///< attempts after the first
    std::uint64_t stale_discarded = 0;    ///< idle connections found closed or expired and dropped
};

namespace detail {
class http_pool;
}

class client {
public:
    /// `cfg.url` must be http://host[:port][/prefix] or https://…; std::invalid_argument otherwise.
    client(asio::any_io_executor ex, config cfg);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    const config& settings() const noexcept { return cfg_; }
    client_stats stats() const;
    asio::any_io_executor get_executor() const noexcept { return ex_; }

    /// Close idle connections (calls in flight finish on theirs).
    void close_idle();

    // --- device queue -------------------------------------------------------------------------
    /// Enqueue a downlink; completes with ChirpStack's queue item id. Never retried: when the
    /// result is a transport error, diagnostics::request_sent says whether ChirpStack may have it.
    template <class Token>
    auto async_enqueue(std::string_view dev_eui, enqueue_request req, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::string)>(
            [this](auto h, std::string eui, enqueue_request r, diagnostics* d) {
                do_enqueue(std::move(eui), std::move(r), d, std::move(h));
            },
            token, std::string(dev_eui), std::move(req), &diag);
    }
    template <class Token>
    auto async_enqueue(std::string_view dev_eui, enqueue_request req, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::string)>(
            [this](auto h, std::string eui, enqueue_request r) { do_enqueue(std::move(eui), std::move(r), nullptr, std::move(h)); },
            token, std::string(dev_eui), std::move(req));
    }

    /// The device's queue, FIFO.
    template <class Token>
    auto async_get_queue(std::string_view dev_eui, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<queue_item>)>(
            [this](auto h, std::string eui, diagnostics* d) { do_get_queue(std::move(eui), d, std::move(h)); }, token,
            std::string(dev_eui), &diag);
    }
    template <class Token>
    auto async_get_queue(std::string_view dev_eui, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<queue_item>)>(
            [this](auto h, std::string eui) { do_get_queue(std::move(eui), nullptr, std::move(h)); }, token, std::string(dev_eui));
    }

    /// Delete every item of the device's queue (ChirpStack emits no event for this).
    template <class Token>
    auto async_flush_queue(std::string_view dev_eui, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto h, std::string eui, diagnostics* d) { do_flush_queue(std::move(eui), d, std::move(h)); }, token,
            std::string(dev_eui), &diag);
    }
    template <class Token>
    auto async_flush_queue(std::string_view dev_eui, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto h, std::string eui) { do_flush_queue(std::move(eui), nullptr, std::move(h)); }, token, std::string(dev_eui));
    }

    /// Delete every item of the device's queue that has not been sent, but keep one that was sent and
    /// awaits its ACK (a DELETE would take it too, and its `ack` event would never come). ChirpStack has no
    /// such call: this enqueues, with `flushQueue: true` (which keeps a pending item, ChirpStack 4.18+), a
    /// placeholder that expired in 2000 — empty, unconfirmed, on `f_port` — which ChirpStack drops unsent at
    /// the device's next downlink opportunity (`log` EXPIRED naming it). Completes with the placeholder's id.
    /// A POST: never retried; when it fails, the flush may or may not have happened (harmless to repeat).
    template <class Token>
    auto async_flush_unsent(std::string_view dev_eui, std::uint8_t f_port, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::string)>(
            [this](auto h, std::string eui, std::uint8_t port, diagnostics* d) { do_flush_unsent(std::move(eui), port, d, std::move(h)); },
            token, std::string(dev_eui), f_port, &diag);
    }

    // --- devices ------------------------------------------------------------------------------
    template <class Token>
    auto async_get_device(std::string_view dev_eui, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, device)>(
            [this](auto h, std::string eui, diagnostics* d) { do_get_device(std::move(eui), d, std::move(h)); }, token,
            std::string(dev_eui), &diag);
    }
    template <class Token>
    auto async_get_device(std::string_view dev_eui, Token&& token) {
        return asio::async_initiate<Token, void(error_code, device)>(
            [this](auto h, std::string eui) { do_get_device(std::move(eui), nullptr, std::move(h)); }, token, std::string(dev_eui));
    }

    /// The next downlink frame counter ChirpStack will use for the device.
    template <class Token>
    auto async_get_next_f_cnt_down(std::string_view dev_eui, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::uint32_t)>(
            [this](auto h, std::string eui, diagnostics* d) { do_next_f_cnt_down(std::move(eui), d, std::move(h)); }, token,
            std::string(dev_eui), &diag);
    }
    template <class Token>
    auto async_get_next_f_cnt_down(std::string_view dev_eui, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::uint32_t)>(
            [this](auto h, std::string eui) { do_next_f_cnt_down(std::move(eui), nullptr, std::move(h)); }, token,
            std::string(dev_eui));
    }

    // --- anything else ------------------------------------------------------------------------
    /// A call to any REST path ("/api/applications?limit=10&tenantId=…"), JSON in and out; the
    /// management API the portal uses goes through here. GET, PUT and DELETE are retried on
    /// transient errors; POST is not.
    template <class Token>
    auto async_request(method m, std::string target, std::optional<boost::json::value> body, diagnostics& diag, Token&& token) {
        return asio::async_initiate<Token, void(error_code, boost::json::value)>(
            [this](auto h, method mm, std::string t, std::optional<boost::json::value> b, diagnostics* d) {
                do_request(mm, std::move(t), std::move(b), d, std::move(h));
            },
            token, m, std::move(target), std::move(body), &diag);
    }
    template <class Token>
    auto async_request(method m, std::string target, std::optional<boost::json::value> body, Token&& token) {
        return asio::async_initiate<Token, void(error_code, boost::json::value)>(
            [this](auto h, method mm, std::string t, std::optional<boost::json::value> b) {
                do_request(mm, std::move(t), std::move(b), nullptr, std::move(h));
            },
            token, m, std::move(target), std::move(body));
    }

private:
    void do_enqueue(std::string, enqueue_request, diagnostics*, asio::any_completion_handler<void(error_code, std::string)>);
    void do_get_queue(std::string, diagnostics*, asio::any_completion_handler<void(error_code, std::vector<queue_item>)>);
    void do_flush_queue(std::string, diagnostics*, asio::any_completion_handler<void(error_code)>);
    void do_flush_unsent(std::string, std::uint8_t, diagnostics*, asio::any_completion_handler<void(error_code, std::string)>);
    void post_enqueue(const std::string& eui, std::string body, diagnostics*, asio::any_completion_handler<void(error_code, std::string)>);
    void do_get_device(std::string, diagnostics*, asio::any_completion_handler<void(error_code, device)>);
    void do_next_f_cnt_down(std::string, diagnostics*, asio::any_completion_handler<void(error_code, std::uint32_t)>);
    void do_request(method, std::string, std::optional<boost::json::value>, diagnostics*,
                    asio::any_completion_handler<void(error_code, boost::json::value)>);

    asio::any_io_executor ex_;
    config cfg_;
    std::shared_ptr<detail::http_pool> pool_;
};

} // namespace relaylink::chirpstack
