// The connection pool: C++20 coroutines on a strand, Beast for HTTP/1.1 and TLS. All Beast code of
// the client lives in this one translation unit (compile time on 2 cores).
#include "http_pool.hpp"
#include "request_head.hpp"
#include <relaylink/backoff.hpp>
#include <relaylink/redact.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <sys/socket.h>

#include <deque>
#include <list>
#include <random>

namespace relaylink::chirpstack::detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using clock_type = std::chrono::steady_clock;

bool parse_base_url(const std::string& url, base_url& out, std::string& why) {
    if (has_space_or_control(url)) {
        why = "ChirpStack URL must not contain spaces or control characters: '" + redact_url(url) + "'";
        return false;
    }
    std::string_view s = url;
    if (s.starts_with("http://")) {
        out.tls = false;
        s.remove_prefix(7);
    } else if (s.starts_with("https://")) {
        out.tls = true;
        s.remove_prefix(8);
    } else {
        why = "ChirpStack URL must start with http:// or https://, got '" + redact_url(url) + "'";
        return false;
    }
    const auto slash = s.find('/');
    std::string_view authority = s.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : s.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        why = "ChirpStack URL must not carry credentials; use the API key";
        return false;
    }
    std::string_view host, port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "ChirpStack URL has an unclosed IPv6 address: '" + redact_url(url) + "'";
            return false;
        }
        host = authority.substr(1, close - 1);
        auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                why = "ChirpStack URL has junk after the IPv6 address: '" + redact_url(url) + "'";
                return false;
            }
            port = rest.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (host.empty()) {
        why = "ChirpStack URL has no host: '" + redact_url(url) + "'";
        return false;
    }
    if (port.empty() && authority.find(':') != std::string_view::npos && !authority.starts_with('[')) {
        why = "ChirpStack URL has an empty port: '" + redact_url(url) + "'";
        return false;
    }
    if (!port.empty()) {
        int p = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || (p = p * 10 + (c - '0')) > 65535) {
                why = "ChirpStack URL port must be 1-65535, got '" + std::string(port) + "'";
                return false;
            }
        }
        if (p == 0) {
            why = "ChirpStack URL port must be 1-65535, got '" + std::string(port) + "'";
            return false;
        }
    }
    if (path.find_first_of("?#") != std::string_view::npos) {
        why = "ChirpStack URL must not carry a query or fragment (an API key goes in api_key, sent as a header): '" + redact_url(url) + "'";
        return false;
    }
    out.host = std::string(host);
    out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
    std::string prefix(path);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    out.prefix = prefix;
    return true;
}

namespace {

struct connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    clock_type::time_point idle_since{};
    bool connected = false;

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void close() {
        beast::error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp().close();
        connected = false;
    }
    /// An idle kept-alive connection is usable when the peer has neither closed it nor sent anything.
    bool still_open() {
        if (!connected || !tcp().socket().is_open()) return false;
        char c;
        const auto n = ::recv(tcp().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

/// Maps the errors of one attempt onto the client's error codes.
error_code classify(const error_code& ec) {
    if (ec == beast::error::timeout) return make_error_code(errc::timeout);
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return make_error_code(errc::response_too_large);
    if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
        return make_error_code(errc::tls_error);
    if (ec.category() == error_code(http::error::end_of_stream).category()) { // beast.http
        if (ec == http::error::end_of_stream || ec == http::error::partial_message) return asio::error::connection_reset;
        return make_error_code(errc::malformed_response);
    }
    return ec;
}

class pool_impl final : public http_pool, public std::enable_shared_from_this<pool_impl> {
public:
    pool_impl(asio::any_io_executor ex, const config& cfg, base_url url)
        : strand_(asio::make_strand(ex)), cfg_(cfg), url_(std::move(url)), resolver_(strand_),
          tls_ctx_(ssl::context::tls_client), rng_(std::random_device{}()) {
        if (url_.tls) {
            tls_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                 ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
            if (cfg_.verify_tls) {
                if (!cfg_.ca_file.empty()) {
                    error_code ec;
                    tls_ctx_.load_verify_file(cfg_.ca_file, ec);
                    if (ec)
                        throw config_error("ca_file", "cannot load the CA file '" + cfg_.ca_file +
                                                    "' (ca_file): " + ec.message());
                } else
                    tls_ctx_.set_default_verify_paths();
                tls_ctx_.set_verify_mode(ssl::verify_peer);
            } else {
                tls_ctx_.set_verify_mode(ssl::verify_none);
            }
        }
        std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
        if (url_.port != (url_.tls ? "443" : "80")) host += ":" + url_.port;
        fields_ = fixed_fields(cfg_, host); // checked by the client (check_fields)
    }

    void async_exchange(http_request req, diagnostics* diag,
                        asio::any_completion_handler<void(error_code, http_response)> handler) override {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto handler_ex = asio::get_associated_executor(handler, strand_);
        auto work = asio::make_work_guard(handler_ex);
        asio::co_spawn(strand_, exchange(std::move(req), diag),
                       asio::bind_cancellation_slot(
                           slot, [h = std::move(handler), work = std::move(work)](std::exception_ptr e,
                                                                                  std::pair<error_code, http_response> r) mutable {
                               if (e) r.first = make_error_code(errc::malformed_response); // not reached: exchange catches
                               auto ex = work.get_executor();
                               asio::dispatch(ex, [h = std::move(h), r = std::move(r)]() mutable {
                                   std::move(h)(r.first, std::move(r.second));
                               });
                           }));
    }

    client_stats stats() const override {
        client_stats s;
        s.requests = requests_.load();
        s.connections_opened = opened_.load();
        s.connections_reused = reused_.load();
        s.retries = retries_.load();
        s.stale_discarded = stale_.load();
        return s;
    }

    void close_idle() override {
        asio::dispatch(strand_, [self = shared_from_this()] {
            for (auto& c : self->idle_) c->close();
            self->total_ -= self->idle_.size();
            self->idle_.clear();
            self->wake_one();
        });
    }

private:
    using conn_ptr = std::shared_ptr<connection>;

    awaitable<std::pair<error_code, http_response>> exchange(http_request req, diagnostics* diag) {
        // The pool outlives this call's frames: when the io_context is destroyed with the call in flight
        // (its owner went away), the frames are destroyed there and attempt_once's releaser still
        // returns its connection here. Before this, that was a use after free (found under ASan).
        const auto keep_alive = shared_from_this();
        const bool idempotent = req.verb != method::post;
        const int max_attempts = std::max(1, cfg_.retry.max_attempts);
        for (int attempt = 1;; ++attempt) {
            if (attempt > 1) ++retries_;
            if (diag) diag->attempts = attempt;
            error_code ec;
            http_response resp;
            try {
                co_await attempt_once(req, resp, diag);
                if (resp.status < 200 || resp.status >= 300) ec = make_error_code(from_http_status(resp.status));
            } catch (const boost::system::system_error& e) {
                ec = e.code() == asio::error::operation_aborted ? e.code() : classify(e.code());
            } catch (const std::exception& e) {
                ec = make_error_code(errc::malformed_response);
                if (diag) diag->message = std::string("unexpected failure: ") + e.what();
            }
            if (!ec || ec == asio::error::operation_aborted || !idempotent || !is_transient(ec) || attempt >= max_attempts ||
                (ec == errc::timeout && !cfg_.retry.retry_timeouts))
                co_return std::pair{ec, std::move(resp)};
            // Exponential backoff with jitter (relaylink/backoff.hpp), so many clients do not retry in lockstep.
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                backoff_delay({cfg_.retry.initial_backoff, cfg_.retry.max_backoff, cfg_.retry.multiplier, cfg_.retry.jitter}, attempt,
                              std::uniform_real_distribution<double>(0.0, 1.0)(rng_)));
            asio::steady_timer t(strand_, wait);
            error_code wait_ec;
            co_await t.async_wait(asio::redirect_error(use_awaitable, wait_ec));
            if (wait_ec == asio::error::operation_aborted) co_return std::pair{wait_ec, http_response{}};
        }
    }

    awaitable<void> attempt_once(const http_request& req, http_response& out, diagnostics* diag) {
        conn_ptr c = co_await acquire();
        bool keep = false;
        // Whatever happens below, the connection goes back to the pool or is closed.
        struct releaser {
            pool_impl* self;
            conn_ptr& c;
            bool& keep;
            ~releaser() { self->release(c, keep); }
        } rel{this, c, keep};

        if (!c->connected) co_await connect(*c);
        else ++reused_;

        // The request as one buffer, written by hand (request_head.hpp): one allocation and one write, where
        // Beast's message and serializer cost a node per field and a walk over a dozen buffers.
        const std::string text = request_text(req.verb, url_.prefix, req.target, fields_, req.body);

        c->tcp().expires_after(cfg_.request_timeout);
        if (diag) diag->request_sent = true;
        ++requests_;
        if (c->tls)
            co_await asio::async_write(*c->tls, asio::buffer(text), use_awaitable);
        else
            co_await asio::async_write(*c->plain, asio::buffer(text), use_awaitable);

        http::response_parser<http::string_body> p;
        p.body_limit(cfg_.max_response_size);
        p.header_limit(64 * 1024);
        if (c->tls)
            co_await http::async_read(*c->tls, c->buffer, p, use_awaitable);
        else
            co_await http::async_read(*c->plain, c->buffer, p, use_awaitable);
        c->tcp().expires_never();
        auto& msg = p.get();
        out.status = msg.result_int();
        out.body = std::move(msg.body());
        if (diag) diag->http_status = out.status;
        keep = msg.keep_alive();
    }

    awaitable<void> connect(connection& c) {
        auto results = co_await resolver_.async_resolve(url_.host, url_.port, use_awaitable);
        if (url_.tls) {
            c.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(strand_, tls_ctx_);
            if (!SSL_set_tlsext_host_name(c.tls->native_handle(), url_.host.c_str()))
                throw boost::system::system_error(make_error_code(errc::tls_error));
            if (cfg_.verify_tls) c.tls->set_verify_callback(ssl::host_name_verification(url_.host));
        } else {
            c.plain = std::make_unique<beast::tcp_stream>(strand_);
        }
        c.tcp().expires_after(cfg_.connect_timeout);
        co_await c.tcp().async_connect(results, use_awaitable);
        c.tcp().socket().set_option(tcp::no_delay(true));
        if (c.tls) co_await c.tls->async_handshake(ssl::stream_base::client, use_awaitable);
        c.tcp().expires_never();
        c.connected = true;
        ++opened_;
    }

    /// A connection for one request: an idle live one, a new one under the limit, or wait for one.
    awaitable<conn_ptr> acquire() {
        for (;;) {
            while (!idle_.empty()) {
                conn_ptr c = idle_.back();
                idle_.pop_back();
                if (clock_type::now() - c->idle_since < cfg_.idle_timeout && c->still_open()) co_return c;
                ++stale_;
                c->close();
                --total_;
            }
            if (total_ < std::max<std::size_t>(1, cfg_.pool_size)) {
                ++total_;
                co_return std::make_shared<connection>();
            }
            auto timer = std::make_shared<asio::steady_timer>(strand_, clock_type::time_point::max());
            waiters_.push_back(timer);
            error_code ec;
            co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) {
                std::erase(waiters_, timer);
                throw boost::system::system_error(asio::error::operation_aborted);
            }
        }
    }

    void release(conn_ptr& c, bool keep) {
        if (keep && c->connected) {
            c->idle_since = clock_type::now();
            idle_.push_back(std::move(c));
        } else {
            if (c->connected) c->close();
            --total_;
        }
        wake_one();
    }

    void wake_one() {
        while (!waiters_.empty()) {
            auto t = waiters_.front();
            waiters_.pop_front();
            if (t->cancel() > 0) return;
        }
    }

    asio::strand<asio::any_io_executor> strand_;
    config cfg_;
    base_url url_;
    tcp::resolver resolver_;
    ssl::context tls_ctx_;
    std::string fields_; ///< the fields every request carries, rendered once
    std::vector<conn_ptr> idle_;
    std::size_t total_ = 0; ///< connections open or being opened, busy or idle
    std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
    std::mt19937 rng_;
    std::atomic<std::uint64_t> requests_{0}, opened_{0}, reused_{0}, retries_{0}, stale_{0};
};

} // namespace

std::shared_ptr<http_pool> http_pool::create(asio::any_io_executor ex, const config& cfg, base_url url) {
    return std::make_shared<pool_impl>(std::move(ex), cfg, std::move(url));
}

} // namespace relaylink::chirpstack::detail
