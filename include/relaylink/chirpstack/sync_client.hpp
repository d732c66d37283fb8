// A blocking facade over chirpstack::client for simple callers (CLI tools, scripts, Python). Each call runs
// on its caller's thread (no hand-off to another thread), on one of at most `pool_size` lanes — an io_context
// and a client with one kept-alive connection — so calls from several threads run side by side and more wait
// their turn. Every call throws chirpstack::api_error (code + a message a person can act on) on failure; the
// API key never appears in it.
#pragma once

#include <relaylink/chirpstack/client.hpp>

#include <memory>

namespace relaylink::chirpstack {

class sync_client {
public:
    explicit sync_client(config cfg);
    ~sync_client();
    sync_client(const sync_client&) = delete;
    sync_client& operator=(const sync_client&) = delete;

    std::string enqueue(std::string_view dev_eui, const enqueue_request& req);
    std::vector<queue_item> get_queue(std::string_view dev_eui);
    void flush_queue(std::string_view dev_eui);
    /// Delete the items not sent yet, keeping one that awaits its ACK (client::async_flush_unsent).
    std::string flush_unsent(std::string_view dev_eui, std::uint8_t f_port);
    device get_device(std::string_view dev_eui);
    std::uint32_t get_next_f_cnt_down(std::string_view dev_eui);
    boost::json::value request(method m, std::string target, std::optional<boost::json::value> body = std::nullopt);

    const config& settings() const noexcept;
    client_stats stats() const;
    /// An asynchronous client on an io_context thread of this object's, started at the first call (it keeps
    /// up to `pool_size` connections of its own, beside the blocking calls').
    client& async();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace relaylink::chirpstack
