// ChirpStack's HTTP integration endpoint: a Beast HTTP/1.1 server, one strand, C++20 coroutines.
// Checks run on the header first (size, method, path, secret, encoding), so a refused request costs
// no body read; a refused request with an unread body closes its connection.
#include "intake.hpp"

#include <relaylink/ingest/http_integration.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

namespace relaylink::ingest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

bool same_secret(std::string_view a, std::string_view b) noexcept {
    // constant time for equal lengths; the length of the secret is not the secret
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<unsigned char>(diff | (a[i] ^ b[i]));
    return diff == 0;
}

/// The value of `name` in a query string ("a=1&event=up"), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        const auto eq = part.find('=');
        if (part.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

/// ChirpStack's HTTP integration event types (its `?event=`), whatever relaylink does with each.
bool known_event_type(std::string_view t) {
    for (std::string_view k : {"up", "join", "ack", "txack", "log", "status", "location", "integration"})
        if (t == k) return true;
    return false;
}

/// A value from the request, fit to quote in an answer or a log line: printable ASCII, at most 40 characters.
std::string quoted(std::string_view v) {
    std::string out;
    for (char c : v.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (v.size() > 40) out += "...";
    return out;
}

struct reply {
    http::status status = http::status::ok;
    std::string body;
    bool close = false;
    bool retry_later = false; ///< 503 because the service is full: Retry-After
};

} // namespace

struct http_integration::impl : std::enable_shared_from_this<impl> {
    asio::strand<asio::any_io_executor> strand;
    http_integration_config cfg;
    event_sink sink;
    tcp::acceptor acceptor;
    detail::counters count;
    using clock = std::chrono::steady_clock;
    /// A connection holding a slot. `proven`: a request of it passed the header checks (the secret);
    /// `idle`: between two requests of a keep-alive connection.
    struct slot {
        clock::time_point since;
        bool proven = false;
        bool idle = false;
    };
    std::map<beast::tcp_stream*, slot> open;    // on the strand
    std::set<beast::tcp_stream*> evicted;       // closed to make room: their sessions answer 503 and leave
    std::size_t leaving = 0;                    // sessions evicted or refused, still writing their 503
    std::atomic<bool> running{false};
    unsigned short bound_port = 0;
    std::mutex log_mu;
    clock::time_point log_window{};
    int logged_in_window = 0;
    std::uint64_t suppressed_in_window = 0;

    impl(asio::any_io_executor ex, http_integration_config c, event_sink s)
        : strand(asio::make_strand(ex)), cfg(std::move(c)), sink(std::move(s)), acceptor(strand) {}

    /// Warnings at most 10 a minute: a flood of bad requests must not become a flood of log lines.
    static constexpr int logs_per_minute = 10;
    void log(log_level l, const std::string& m) {
        std::string suppressed;
        {
            std::lock_guard lock(log_mu);
            const auto now = clock::now();
            if (now - log_window >= std::chrono::minutes(1)) {
                if (suppressed_in_window > 0)
                    suppressed = std::to_string(suppressed_in_window) + " more warnings in the last minute not written (counted in stats())";
                log_window = now;
                logged_in_window = 0;
                suppressed_in_window = 0;
            }
            if (l >= log_level::warning && logged_in_window >= logs_per_minute) {
                ++suppressed_in_window;
                ++count.logs_suppressed;
                return;
            }
            if (l >= log_level::warning) ++logged_in_window;
        }
        if (!suppressed.empty()) detail::log(cfg.log, log_level::warning, "HTTP integration: " + suppressed);
        detail::log(cfg.log, l, "HTTP integration: " + m);
    }

    slot* slot_of(beast::tcp_stream* s) {
        auto it = open.find(s);
        return it == open.end() ? nullptr : &it->second;
    }

    /// At the limit: the connection to close for a newcomer — the oldest that has proven nothing yet,
    /// else the oldest idle keep-alive one; none when every slot is a proven sender mid-request.
    beast::tcp_stream* victim() {
        beast::tcp_stream* best = nullptr;
        const slot* b = nullptr;
        for (int pass = 0; pass < 2 && !best; ++pass)
            for (auto& [s, info] : open) {
                const bool fits = pass == 0 ? !info.proven : info.idle;
                if (fits && (!b || info.since < b->since)) best = s, b = &info;
            }
        return best;
    }

    // What the header alone decides; nullopt: read the body.
    std::optional<reply> check_header(const http::request_parser<http::string_body>& p, std::string& type) {
        const auto& h = p.get();
        if (h.method() != http::verb::post) {
            ++count.rejected;
            return reply{http::status::method_not_allowed, "ChirpStack's HTTP integration POSTs events; " +
                                                                std::string(h.method_string()) + " is not served here", true};
        }
        const std::string_view target = h.target();
        const auto q = target.find('?');
        const std::string_view path = target.substr(0, q);
        if (path != cfg.path) {
            ++count.foreign;
            return reply{http::status::not_found, "no event endpoint at " + std::string(path) + " (it is " + cfg.path + ")", true};
        }
        if (!cfg.secret.empty()) {
            auto it = h.find(cfg.secret_header);
            if (it == h.end() || !same_secret(it->value(), cfg.secret)) {
                ++count.rejected;
                log(log_level::warning, std::string(it == h.end() ? "a request without " : "a wrong ") + cfg.secret_header + " header: refused (401)");
                return reply{http::status::unauthorized,
                             (it == h.end() ? "missing header " : "wrong value in header ") + cfg.secret_header +
                                 ": add it with the shared secret to the integration's headers in ChirpStack",
                             true};
            }
        }
        std::string_view ctype;
        if (auto it = h.find(http::field::content_type); it != h.end()) ctype = it->value();
        if (ctype.starts_with("application/octet-stream") || ctype.starts_with("application/x-protobuf") ||
            ctype.starts_with("application/protobuf")) {
            ++count.unsupported;
            log(log_level::warning, "a protobuf event refused (415): set the integration's payload encoding to JSON");
            return reply{http::status::unsupported_media_type,
                         "relaylink reads ChirpStack's JSON events; this is " + std::string(ctype) +
                             ": set the HTTP integration's payload encoding to JSON",
                         true};
        }
        const auto event = q == std::string_view::npos ? std::nullopt : query_param(target.substr(q + 1), "event");
        if (!event || event->empty()) {
            ++count.malformed;
            return reply{http::status::bad_request, "missing ?event=<type> (ChirpStack adds it: " + cfg.path + "?event=up)", true};
        }
        if (!known_event_type(*event)) {
            ++count.malformed;
            log(log_level::warning, "an unknown event type '" + quoted(*event) + "' refused (400)");
            return reply{http::status::bad_request,
                         "'" + quoted(*event) + "' is not one of ChirpStack's event types (up, join, ack, txack, log, status, location, integration)",
                         true};
        }
        type = std::string(*event);
        return std::nullopt;
    }

    // Beast stops at the header when Content-Length is over the limit, or in the body of a chunked one.
    reply too_large() {
        ++count.rejected;
        log(log_level::warning, "a body over " + std::to_string(cfg.body_limit) + " bytes refused (413)");
        return reply{http::status::payload_too_large, "body over the limit of " + std::to_string(cfg.body_limit) + " bytes", true};
    }

    http::response<http::string_body> busy(unsigned version) const {
        http::response<http::string_body> res{http::status::service_unavailable, version};
        res.set(http::field::server, "relaylink");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.set(http::field::retry_after, "1");
        res.body() = "relaylink's HTTP integration is at its limit of " + std::to_string(cfg.max_connections) +
                     " connections; try again\n";
        res.keep_alive(false);
        res.prepare_payload();
        return res;
    }

    /// Answer 503 on a connection and close it, in at most a second.
    asio::awaitable<void> answer_busy(beast::tcp_stream& stream, unsigned version) {
        ++leaving;
        try {
            auto res = busy(version);
            stream.expires_after(std::chrono::seconds(1));
            co_await http::async_write(stream, res, asio::use_awaitable);
        } catch (const std::exception&) {
        }
        --leaving;
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    asio::awaitable<void> refuse(tcp::socket socket) {
        auto self = shared_from_this();
        beast::tcp_stream stream(std::move(socket));
        co_await answer_busy(stream, 11);
    }

    asio::awaitable<void> session(tcp::socket socket) {
        auto self = shared_from_this();
        beast::tcp_stream stream(std::move(socket));
        open.emplace(&stream, slot{clock::now()});
        beast::flat_buffer buffer;
        chirpstack::event_parser parser;
        bool first = true;
        try {
            for (;;) {
                http::request_parser<http::string_body> p;
                p.header_limit(16 * 1024);
                p.body_limit(cfg.body_limit);
                if (auto* me = slot_of(&stream)) me->idle = !first;
                if (first) stream.expires_after(cfg.header_timeout);
                else stream.expires_after(cfg.idle_timeout);
                beast::error_code hec;
                co_await http::async_read_header(stream, buffer, p, asio::redirect_error(asio::use_awaitable, hec));
                if (evicted.erase(&stream)) { // closed to make room for a newcomer
                    if (first) co_await answer_busy(stream, p.get().version() ? p.get().version() : 11);
                    co_return;
                }
                if (hec == beast::error::timeout && first) {
                    ++count.timed_out;
                    log(log_level::warning, "a connection sent no complete request header within " +
                                                std::to_string(cfg.header_timeout.count()) + " ms: closed");
                }
                if (hec && hec != http::error::body_limit) throw beast::system_error(hec);
                if (auto* me = slot_of(&stream)) me->idle = false;
                ++count.received;
                std::string type;
                std::optional<reply> r = hec ? too_large() : check_header(p, type);
                if (!r) {
                    if (auto* me = slot_of(&stream)) me->proven = true; // the secret matched: it may keep its slot
                    beast::error_code ec;
                    stream.expires_after(cfg.header_timeout);
                    co_await http::async_read(stream, buffer, p, asio::redirect_error(asio::use_awaitable, ec));
                    if (ec == http::error::body_limit) {
                        r = too_large();
                    } else if (ec) {
                        throw beast::system_error(ec);
                    } else {
                        auto out = detail::intake(parser, type, p.get().body(), {}, sink, count);
                        switch (out.what) {
                        case detail::outcome::delivered: r = reply{http::status::ok, {}, false}; break;
                        case detail::outcome::unsupported: r = reply{http::status::unsupported_media_type, out.why, false}; break;
                        case detail::outcome::malformed: r = reply{http::status::bad_request, out.why, false}; break;
                        case detail::outcome::sink_error: r = reply{http::status::service_unavailable, out.why, false}; break;
                        case detail::outcome::full: r = reply{http::status::service_unavailable, out.why, false, true}; break;
                        }
                        if (out.what != detail::outcome::delivered)
                            log(out.what == detail::outcome::sink_error ? log_level::error : log_level::warning, type + " event: " + out.why);
                    }
                }
                first = false;
                http::response<http::string_body> res{r->status, p.get().version()};
                res.set(http::field::server, "relaylink");
                if (r->status == http::status::method_not_allowed) res.set(http::field::allow, "POST");
                if (r->retry_later) res.set(http::field::retry_after, "1");
                if (!r->body.empty()) {
                    res.set(http::field::content_type, "text/plain; charset=utf-8");
                    res.body() = r->body + "\n";
                }
                res.keep_alive(!r->close && p.get().keep_alive());
                res.prepare_payload();
                stream.expires_after(cfg.idle_timeout);
                co_await http::async_write(stream, res, asio::use_awaitable);
                if (!res.keep_alive()) break;
            }
        } catch (const std::exception&) {
            // the peer left, timed out or sent something that is not HTTP: drop the connection
        }
        open.erase(&stream);
        evicted.erase(&stream);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (running) {
            beast::error_code ec;
            tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (!running || ec == asio::error::operation_aborted) co_return;
                continue;
            }
            if (open.size() >= cfg.max_connections) {
                if (auto* v = victim()) { // its session answers 503 (if it was waiting for a request) and leaves
                    ++count.evicted;
                    const bool proven = open.at(v).proven;
                    open.erase(v);
                    evicted.insert(v);
                    v->cancel();
                    log(log_level::warning, "connection limit (" + std::to_string(cfg.max_connections) + ") reached: " +
                                                (proven ? "an idle keep-alive connection" : "the oldest connection that sent no valid request yet") +
                                                " closed to make room");
                } else if (leaving < 4 * cfg.max_connections) {
                    ++count.overloaded;
                    log(log_level::warning, "connection limit (" + std::to_string(cfg.max_connections) +
                                                ") reached by senders mid-request: a new connection answered 503");
                    asio::co_spawn(strand, refuse(std::move(s)), asio::detached);
                    continue;
                } else {
                    ++count.overloaded;
                    s.close(ec);
                    continue;
                }
            }
            asio::co_spawn(strand, session(std::move(s)), asio::detached);
        }
    }
};

http_integration::http_integration(asio::any_io_executor ex, http_integration_config cfg, event_sink sink) {
    auto bad = [](const std::string& f, const std::string& why) { throw std::invalid_argument("HTTP integration " + f + ": " + why); };
    beast::error_code ec;
    asio::ip::make_address(cfg.address, ec);
    if (ec) bad("address", "'" + cfg.address + "' is not an IP address");
    if (cfg.path.empty() || cfg.path.front() != '/' || cfg.path.find_first_of("?# ") != std::string::npos)
        bad("path", "'" + cfg.path + "' must start with '/' and hold no '?', '#' or space");
    if (!cfg.secret.empty() && cfg.secret_header.empty()) bad("secret_header", "empty while a secret is set");
    for (char c : cfg.secret_header)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            bad("secret_header", "'" + cfg.secret_header + "' is not an HTTP header name");
    for (char c : cfg.secret)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad("secret", "contains control characters");
    if (cfg.body_limit < 1024) bad("body_limit", std::to_string(cfg.body_limit) + " bytes is too small for an event (at least 1024)");
    if (cfg.max_connections == 0) bad("max_connections", "must be at least 1");
    if (cfg.idle_timeout.count() <= 0) bad("idle_timeout", "must be positive");
    if (cfg.header_timeout.count() <= 0 || cfg.header_timeout > std::chrono::minutes(1))
        bad("header_timeout", std::to_string(cfg.header_timeout.count()) + " ms: must be positive and at most a minute");
    if (!sink) bad("sink", "none given");
    impl_ = std::make_shared<impl>(std::move(ex), std::move(cfg), std::move(sink));
}

http_integration::~http_integration() { stop(); }

void http_integration::start() {
    if (impl_->running.exchange(true)) return;
    try {
        tcp::endpoint ep(asio::ip::make_address(impl_->cfg.address), impl_->cfg.port);
        impl_->acceptor.open(ep.protocol());
        impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
        impl_->acceptor.bind(ep);
        impl_->acceptor.listen();
        impl_->bound_port = impl_->acceptor.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
        impl_->running = false;
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
        throw std::system_error(e.code(), "HTTP integration cannot listen on " + impl_->cfg.address + ":" +
                                              std::to_string(impl_->cfg.port));
    }
    if (impl_->cfg.secret.empty()) {
        const auto a = asio::ip::make_address(impl_->cfg.address);
        if (!a.is_loopback())
            impl_->log(log_level::warning, "listening on " + impl_->cfg.address + " without a shared secret: anyone who can reach port " +
                                                std::to_string(impl_->bound_port) +
                                                " can post events (and confirm or fail commands). Set a secret and add its header "
                                                "to the integration in ChirpStack, or listen on 127.0.0.1 behind a proxy");
    }
    asio::co_spawn(impl_->strand, impl_->accept_loop(), asio::detached);
}

void http_integration::stop() {
    if (!impl_ || !impl_->running.exchange(false)) return;
    asio::post(impl_->strand, [i = impl_] {
        beast::error_code ignored;
        i->acceptor.close(ignored);
        for (auto& [s, info] : i->open) s->socket().close(ignored);
    });
}

unsigned short http_integration::port() const { return impl_->bound_port; }
std::string http_integration::url() const {
    return "http://" + impl_->cfg.address + ":" + std::to_string(port()) + impl_->cfg.path;
}
source_stats http_integration::stats() const { return impl_->count.snapshot(); }
const http_integration_config& http_integration::settings() const noexcept { return impl_->cfg; }

} // namespace relaylink::ingest
