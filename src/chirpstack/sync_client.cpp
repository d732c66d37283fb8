// The blocking facade: one io_context thread, futures, exceptions.
#include <relaylink/chirpstack/sync_client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <thread>

namespace relaylink::chirpstack {

struct sync_client::impl {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    client c;
    std::thread thread;

    explicit impl(config cfg) : c(io.get_executor(), std::move(cfg)), thread([this] { io.run(); }) {}
    ~impl() {
        c.close_idle();
        work.reset();
        io.stop();
        thread.join();
    }
};

sync_client::sync_client(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
sync_client::~sync_client() = default;

const config& sync_client::settings() const noexcept { return impl_->c.settings(); }
client_stats sync_client::stats() const { return impl_->c.stats(); }
client& sync_client::async() noexcept { return impl_->c; }

// asio::use_future turns an error_code into an exception without the diagnostics, so each call
// completes into a promise of (error_code, value) instead.
#define RELAYLINK_SYNC_CALL(T, call)                                                                              \
    diagnostics d;                                                                                               \
    std::promise<std::pair<error_code, T>> p;                                                                    \
    auto f = p.get_future();                                                                                     \
    call(d, [&p](error_code ec, T v) { p.set_value({ec, std::move(v)}); });                                        \
    auto [ec, value] = f.get();                                                                                  \
    if (ec) throw api_error(ec, d);                                                                              \
    return std::move(value)

std::string sync_client::enqueue(std::string_view dev_eui, const enqueue_request& req) {
    RELAYLINK_SYNC_CALL(std::string, [&](diagnostics& dd, auto h) { impl_->c.async_enqueue(dev_eui, req, dd, std::move(h)); });
}
std::vector<queue_item> sync_client::get_queue(std::string_view dev_eui) {
    RELAYLINK_SYNC_CALL(std::vector<queue_item>, [&](diagnostics& dd, auto h) { impl_->c.async_get_queue(dev_eui, dd, std::move(h)); });
}
void sync_client::flush_queue(std::string_view dev_eui) {
    diagnostics d;
    std::promise<error_code> p;
    auto f = p.get_future();
    impl_->c.async_flush_queue(dev_eui, d, [&p](error_code ec) { p.set_value(ec); });
    if (auto ec = f.get()) throw api_error(ec, d);
}
std::string sync_client::flush_unsent(std::string_view dev_eui, std::uint8_t f_port) {
    RELAYLINK_SYNC_CALL(std::string, [&](diagnostics& dd, auto h) { impl_->c.async_flush_unsent(dev_eui, f_port, dd, std::move(h)); });
}
device sync_client::get_device(std::string_view dev_eui) {
    RELAYLINK_SYNC_CALL(device, [&](diagnostics& dd, auto h) { impl_->c.async_get_device(dev_eui, dd, std::move(h)); });
}
std::uint32_t sync_client::get_next_f_cnt_down(std::string_view dev_eui) {
    RELAYLINK_SYNC_CALL(std::uint32_t, [&](diagnostics& dd, auto h) { impl_->c.async_get_next_f_cnt_down(dev_eui, dd, std::move(h)); });
}
boost::json::value sync_client::request(method m, std::string target, std::optional<boost::json::value> body) {
    RELAYLINK_SYNC_CALL(boost::json::value, [&](diagnostics& dd, auto h) {
        impl_->c.async_request(m, std::move(target), std::move(body), dd, std::move(h));
    });
}

} // namespace relaylink::chirpstack
