#include "fake_http_server.hpp"

// The Asio and Beast parts used, not <boost/asio.hpp> and <boost/beast/core.hpp> whole: this file was the
// sanitizer build's longest to compile.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <deque>
#include <mutex>
#include <thread>

namespace relaylink::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct fake_http_server::impl {
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::thread thread;
    mutable std::mutex m;
    std::deque<std::pair<std::pair<std::string, std::string>, reply>> script;
    std::vector<std::pair<std::pair<std::string, std::string>, reply>> standing;
    std::vector<recorded> log;
    int accepted = 0;

    reply pick(const std::string& method, const std::string& target) {
        std::lock_guard lock(m);
        for (auto it = script.begin(); it != script.end(); ++it) {
            if (it->first.first == method && it->first.second == target) {
                reply r = it->second;
                script.erase(it);
                return r;
            }
        }
        for (const auto& s : standing)
            if (s.first.first == method && s.first.second == target) return s.second;
        reply r;
        r.status = 404;
        r.body = R"({"code":5,"message":"fake server has no script for )" + method + " " + target + R"(","details":[]})";
        return r;
    }

    std::unique_ptr<asio::ssl::context> tls; ///< set: the server speaks HTTPS

    asio::awaitable<void> session(tcp::socket socket, int id) {
        if (!tls) {
            beast::tcp_stream stream(std::move(socket));
            co_await serve(stream, id);
            co_return;
        }
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
        try {
            co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        } catch (const std::exception&) {
            std::lock_guard lock(m);
            ++tls_failures;
            co_return; // the client refused our certificate
        }
        co_await serve(stream, id);
    }
    int tls_failures = 0;

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream, int id) {
        auto& lowest = beast::get_lowest_layer(stream);
        beast::flat_buffer buffer;
        try {
            for (;;) {
                http::request<http::string_body> req;
                co_await http::async_read(stream, buffer, req, asio::use_awaitable);
                recorded rec{std::string(req.method_string()), std::string(req.target()), req.body(), {}, id};
                for (const auto& f : req) {
                    std::string name(f.name_string());
                    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
                    rec.headers[name] = std::string(f.value());
                }
                {
                    std::lock_guard lock(m);
                    log.push_back(rec);
                }
                reply r = pick(rec.method, rec.target);
                if (r.delay.count() > 0) {
                    asio::steady_timer t(lowest.get_executor(), r.delay);
                    co_await t.async_wait(asio::use_awaitable);
                }
                if (r.drop) {
                    lowest.socket().close();
                    co_return;
                }
                if (!r.raw.empty()) {
                    co_await asio::async_write(stream, asio::buffer(r.raw), asio::use_awaitable);
                    lowest.socket().shutdown(tcp::socket::shutdown_both);
                    lowest.socket().close();
                    co_return;
                }
                http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
                res.set(http::field::content_type, "application/json");
                for (const auto& [k, v] : r.headers) res.set(k, v);
                res.body() = r.body;
                res.keep_alive(!r.connection_close && req.keep_alive());
                if (r.chunked)
                    res.chunked(true);
                else
                    res.prepare_payload();
                co_await http::async_write(stream, res, asio::use_awaitable);
                if (r.close_after || r.connection_close || !req.keep_alive()) {
                    lowest.socket().shutdown(tcp::socket::shutdown_both);
                    lowest.socket().close();
                    co_return;
                }
            }
        } catch (const std::exception&) {
            // the client went away
        }
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto s = co_await acceptor.async_accept(asio::use_awaitable);
            int id;
            {
                std::lock_guard lock(m);
                id = ++accepted;
            }
            asio::co_spawn(io, session(std::move(s), id), asio::detached);
        }
    }
};

fake_http_server::fake_http_server(const std::string& cert_file, const std::string& key_file) : impl_(std::make_unique<impl>()) {
    if (!cert_file.empty()) {
        impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        impl_->tls->use_certificate_chain_file(cert_file);
        impl_->tls->use_private_key_file(key_file, asio::ssl::context::pem);
    }
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

fake_http_server::~fake_http_server() {
    impl_->io.stop();
    impl_->thread.join();
}

unsigned short fake_http_server::port() const { return impl_->acceptor.local_endpoint().port(); }
std::string fake_http_server::url() const {
    return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}
int fake_http_server::tls_failures() const {
    std::lock_guard lock(impl_->m);
    return impl_->tls_failures;
}

void fake_http_server::expect(const std::string& method, const std::string& target, reply r) {
    std::lock_guard lock(impl_->m);
    impl_->script.push_back({{method, target}, std::move(r)});
}
void fake_http_server::always(const std::string& method, const std::string& target, reply r) {
    std::lock_guard lock(impl_->m);
    impl_->standing.push_back({{method, target}, std::move(r)});
}
std::vector<recorded> fake_http_server::requests() const {
    std::lock_guard lock(impl_->m);
    return impl_->log;
}
int fake_http_server::connections() const {
    std::lock_guard lock(impl_->m);
    return impl_->accepted;
}
void fake_http_server::reset() {
    std::lock_guard lock(impl_->m);
    impl_->script.clear();
    impl_->standing.clear();
    impl_->log.clear();
}

} // namespace relaylink::test
