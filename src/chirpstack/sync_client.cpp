// The blocking facade. A blocking call runs on its caller's thread, on a lane of its own: an io_context and a
// client with one connection, taken from a free list and run by the caller until the call completes. No call is
// handed to another thread and back (two wake-ups and two context switches a call, most of a kept-alive call's
// cost on 2 cores). The async() side keeps one io_context thread, started when first asked for.
#include <relaylink/chirpstack/sync_client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace relaylink::chirpstack {

namespace {

/// What a lane's client is given: one connection (a lane serves one call at a time).
config lane_config(config cfg) {
    cfg.pool_size = 1;
    return cfg;
}

} // namespace

struct sync_client::impl {
    struct lane {
        asio::io_context io{1};
        client c;
        explicit lane(const config& cfg) : c(io.get_executor(), lane_config(cfg)) {}
        ~lane() {
            c.close_idle(); // the idle connection shut down, not just dropped
            io.restart();
            io.run();
        }
    };

    struct async_side {
        asio::io_context io{1};
        asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
        client c;
        std::thread thread;

        explicit async_side(const config& cfg) : c(io.get_executor(), cfg), thread([this] { io.run(); }) {}
        ~async_side() {
            c.close_idle();
            work.reset();
            io.stop();
            thread.join();
        }
    };

    const config cfg;
    const std::size_t max_lanes;

    std::mutex m;
    std::condition_variable freed;
    std::vector<std::unique_ptr<lane>> lanes; ///< every lane made; at most max_lanes
    std::vector<lane*> idle;                  ///< the lanes no call is using (the newest last: a caller's own again)
    std::size_t making = 0;                   ///< lanes being made outside the lock

    std::once_flag async_once;
    std::unique_ptr<async_side> async_holder;
    std::atomic<async_side*> async_ptr{nullptr};

    explicit impl(config c) : cfg(std::move(c)), max_lanes(std::max<std::size_t>(1, cfg.pool_size)) {
        lanes.push_back(std::make_unique<lane>(cfg)); // refuses a bad configuration here, not at the first call
        idle.push_back(lanes.back().get());
    }
    ~impl() {
        async_holder.reset(); // its thread stopped before the lanes go
    }

    lane& take() {
        std::unique_lock lk(m);
        for (;;) {
            if (!idle.empty()) {
                lane* l = idle.back();
                idle.pop_back();
                return *l;
            }
            if (lanes.size() + making < max_lanes) {
                ++making;
                lk.unlock();
                std::unique_ptr<lane> made;
                try {
                    made = std::make_unique<lane>(cfg);
                } catch (...) {
                    lk.lock();
                    --making;
                    freed.notify_one();
                    throw;
                }
                lk.lock();
                --making;
                lanes.push_back(std::move(made));
                return *lanes.back();
            }
            freed.wait(lk);
        }
    }
    void give_back(lane& l) {
        {
            std::lock_guard lk(m);
            idle.push_back(&l);
        }
        freed.notify_one();
    }

    /// Runs one call on a lane, on this thread, until it completes.
    template <class Start>
    void run(Start&& start) {
        lane& l = take();
        struct returner {
            impl* self;
            lane& l;
            ~returner() { self->give_back(l); }
        } r{this, l};
        l.io.restart();
        start(l.c);
        l.io.run();
    }

    /// A blocking call: completes into an optional (error_code, value) on this thread; throws api_error.
    template <class T, class Call>
    T call(Call&& start) {
        diagnostics d;
        std::optional<std::pair<error_code, T>> result;
        run([&](client& c) { start(c, d, [&result](error_code ec, T v) { result.emplace(ec, std::move(v)); }); });
        if (!result) throw std::logic_error("relaylink: a ChirpStack call's io_context ran out of work before the call completed");
        if (result->first) throw api_error(result->first, d);
        return std::move(result->second);
    }

    client& async() {
        std::call_once(async_once, [this] {
            async_holder = std::make_unique<async_side>(cfg);
            async_ptr.store(async_holder.get(), std::memory_order_release);
        });
        return async_holder->c;
    }

    client_stats stats() {
        client_stats s;
        auto add = [&s](const client_stats& x) {
            s.requests += x.requests;
            s.connections_opened += x.connections_opened;
            s.connections_reused += x.connections_reused;
            s.retries += x.retries;
            s.stale_discarded += x.stale_discarded;
        };
        {
            std::lock_guard lk(m);
            for (const auto& l : lanes) add(l->c.stats());
        }
        if (auto* a = async_ptr.load(std::memory_order_acquire)) add(a->c.stats());
        return s;
    }
};

sync_client::sync_client(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
sync_client::~sync_client() = default;

const config& sync_client::settings() const noexcept { return impl_->cfg; }
client_stats sync_client::stats() const { return impl_->stats(); }
client& sync_client::async() { return impl_->async(); }

std::string sync_client::enqueue(std::string_view dev_eui, const enqueue_request& req) {
    return impl_->call<std::string>([&](client& c, diagnostics& d, auto h) { c.async_enqueue(dev_eui, req, d, std::move(h)); });
}
std::vector<queue_item> sync_client::get_queue(std::string_view dev_eui) {
    return impl_->call<std::vector<queue_item>>([&](client& c, diagnostics& d, auto h) { c.async_get_queue(dev_eui, d, std::move(h)); });
}
void sync_client::flush_queue(std::string_view dev_eui) {
    impl_->call<bool>([&](client& c, diagnostics& d, auto h) {
        c.async_flush_queue(dev_eui, d, [h = std::move(h)](error_code ec) mutable { std::move(h)(ec, true); });
    });
}
std::string sync_client::flush_unsent(std::string_view dev_eui, std::uint8_t f_port) {
    return impl_->call<std::string>([&](client& c, diagnostics& d, auto h) { c.async_flush_unsent(dev_eui, f_port, d, std::move(h)); });
}
device sync_client::get_device(std::string_view dev_eui) {
    return impl_->call<device>([&](client& c, diagnostics& d, auto h) { c.async_get_device(dev_eui, d, std::move(h)); });
}
std::uint32_t sync_client::get_next_f_cnt_down(std::string_view dev_eui) {
    return impl_->call<std::uint32_t>([&](client& c, diagnostics& d, auto h) { c.async_get_next_f_cnt_down(dev_eui, d, std::move(h)); });
}
boost::json::value sync_client::request(method m, std::string target, std::optional<boost::json::value> body) {
    return impl_->call<boost::json::value>([&](client& c, diagnostics& d, auto h) {
        c.async_request(m, std::move(target), std::move(body), d, std::move(h));
    });
}

} // namespace relaylink::chirpstack
