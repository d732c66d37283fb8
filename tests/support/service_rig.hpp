// A relay service against the embedded simulator, in manual time: the simulator's HTTP server and
// the service's ChirpStack client share one io_context on a thread of their own; the simulator's
// events go straight into the service (the in-process path). Tests move time with advance().
#pragma once

#include <relaylink/chirpstack/client.hpp>
#include <relaylink/chirpstack/event.hpp>
#include <relaylink/service/service.hpp>
#include <relaylink/sim/simulator.hpp>
#include <relaylink/store/store.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace relaylink::test {

/// Let a service finish what it is doing (HTTP calls, device operations, what is due now): poll until
/// it has been idle three times in a row.
inline void settle(service::service& svc) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int quiet = 0;
    while (quiet < 3) {
        if (std::chrono::steady_clock::now() > until) throw std::runtime_error("the service did not settle within 20 s");
        svc.poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        quiet = svc.busy() == 0 ? quiet + 1 : 0;
    }
}

inline sim::simulator_config manual_sim() {
    sim::simulator_config c;
    c.manual_time = true;
    c.keep_history = true;
    return c;
}

inline service::service_config quiet_config() {
    service::service_config c;
    c.safety.windows = false; // tests that need windows set them
    c.seed = 7;
    c.tick = std::chrono::milliseconds(20);
    return c;
}

struct service_rig {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    sim::simulator sim;
    std::unique_ptr<chirpstack::client> api;
    std::unique_ptr<store::store> db;
    service::service_config cfg;
    device::profile_registry profiles;
    std::unique_ptr<service::service> svc;
    std::thread thread;
    std::atomic<bool> deliver{true};  ///< false: keep events in `held` instead of ingesting them
    std::mutex held_mu;
    std::vector<chirpstack::event> held;

    /// `in_process`: the simulator's events go straight to the service; false: the test brings
    /// them (through a broker or the HTTP integration set in `simcfg`).
    /// `tune_client` adjusts the ChirpStack client's settings (timeouts, retries) before it is made.
    explicit service_rig(std::unique_ptr<store::store> store = store::make_memory_store(),
                         service::service_config config = quiet_config(),
                         device::profile_registry registry = device::profile_registry::with_builtins(),
                         sim::simulator_config simcfg = manual_sim(), bool in_process = true,
                         const std::function<void(chirpstack::config&)>& tune_client = {})
        : sim(io.get_executor(), std::move(simcfg)), db(std::move(store)), cfg(std::move(config)), profiles(std::move(registry)) {
        sim.start();
        chirpstack::config cc;
        cc.url = sim.url();
        cc.api_key = sim.settings().api_key;
        cc.retry.initial_backoff = std::chrono::milliseconds(1);
        cc.clock = [this] { return sim.now(); }; // expiresAt against simulated time, not today's date
        if (tune_client) tune_client(cc);
        api = std::make_unique<chirpstack::client>(io.get_executor(), cc);
        cfg.clock = [this] { return sim.now(); };
        svc = std::make_unique<service::service>(io.get_executor(), *api, *db, profiles, cfg);
        if (in_process) sim.on_event([this](const sim::event_out& e) {
            auto ev = chirpstack::parse_event(e.type, e.json);
            if (!ev) throw std::runtime_error("the simulator emitted an event the parser refuses: " + ev.error().message);
            if (deliver) {
                svc->ingest(*ev);
            } else {
                std::lock_guard lock(held_mu);
                held.push_back(std::move(*ev));
            }
        });
        thread = std::thread([this] { io.run(); });
        svc->start();
        settle();
    }
    ~service_rig() {
        svc.reset();
        api.reset();
        sim.stop();
        work.reset();
        io.stop();
        thread.join();
    }

    sim::device_config add(const std::string& eui, sim::wiring power = sim::wiring::line_side,
                           sim::device_kind kind = sim::device_kind::uc100_sdm320c) {
        sim::device_config d;
        d.dev_eui = eui;
        d.kind = kind;
        d.power = power;
        d.passthrough_port = kind == sim::device_kind::ivy_em114039 ? 10 : 5;
        d.uplink_interval = std::chrono::minutes(10);
        d.jitter = 0;
        sim.add_device(d);
        return d;
    }

    void settle() { test::settle(*svc); }
    /// "The process dies and starts again": a new service on the same store, ChirpStack and simulator.
    void restart() {
        svc.reset();
        svc = std::make_unique<service::service>(io.get_executor(), *api, *db, profiles, cfg);
        svc->start();
        settle();
    }
    /// Move simulated time (the devices uplink, reply…), then let the service catch up.
    void advance(std::chrono::nanoseconds d) {
        settle();
        sim.advance(d);
        settle();
    }
    /// Advance in steps, so timers and retries interleave with uplinks as they would.
    void advance_in_steps(std::chrono::nanoseconds total, std::chrono::nanoseconds step) {
        for (std::chrono::nanoseconds done{0}; done < total; done += step) advance(step);
    }

    store::command_row get(std::int64_t id) const { return db->get(id).value(); }
    command::state state_of(std::int64_t id) const { return get(id).rec.current; }
};

/// A command's audit trail in a line per row, for failure messages.
inline std::string causes(const std::vector<store::audit_event>& ev) {
    std::string s;
    for (const auto& e : ev) s += "\n  " + std::string(command::to_string(e.to)) + ": " + e.cause + " [" + e.detail + "]";
    return s;
}
inline bool any_cause(const std::vector<store::audit_event>& ev, const std::string& part) {
    for (const auto& e : ev)
        if (e.cause.find(part) != std::string::npos) return true;
    return false;
}

inline service::request req(const std::string& eui, const std::string& profile = "eastron_sdm320c") {
    service::request r;
    r.dev_eui = eui;
    r.profile = profile;
    r.actor = "tester";
    r.reason = "test";
    return r;
}

} // namespace relaylink::test
