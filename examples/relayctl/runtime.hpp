// relayctl's relay runtime: the SQLite store, the ChirpStack client (or an embedded simulator), the
// relay service on an io_context thread, and the event sources (--mqtt / --http) that feed it.
#pragma once

#include <relaylink/redact.hpp>

#include "cli.hpp"

#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/ingest/source.hpp>
#include <relaylink/service/service.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <charconv>
#include <future>
#include <cstdlib>
#include <atomic>
#include <memory>
#include <random>
#include <thread>

namespace relayctl {

namespace svc = relaylink::service;
namespace st = relaylink::store;
using relaylink::command::state;

inline std::string db_path(const args& a) {
    if (auto d = a.value("db")) {
        if (d->empty()) throw usage_error("--db must name a file");
        return *d;
    }
    if (const char* e = std::getenv("RELAYLINK_DB"); e && *e) return e;
    return "relaylink.db";
}

/// The store as messages show it: a PostgreSQL URL's password as ***.
inline std::string db_shown(const args& a) { return relaylink::redact_dsn(db_path(a)); }

/// --table-prefix (default $RELAYLINK_TABLE_PREFIX): relaylink's SQLite tables beside the portal's
/// (docs/portal-integration.md: "relaylink_").
inline std::string table_prefix(const args& a) {
    if (auto p = a.value("table-prefix")) return *p;
    if (const char* e = std::getenv("RELAYLINK_TABLE_PREFIX"); e) return e;
    return "";
}

inline std::unique_ptr<st::store> open_db(const args& a) {
    st::sqlite_options lite;
    lite.table_prefix = table_prefix(a);
    try {
        // A file, or a URL as the portal's SQLALCHEMY_DATABASE_URI has it (sqlite:///…, postgresql+psycopg2://…).
        return st::open_url(db_path(a), {}, lite);
    } catch (const st::store_error& e) {
        throw failure(e.what());
    }
}

inline std::string default_actor() {
    const char* u = std::getenv("USER");
    return u && *u ? std::string(u) : std::string("relayctl");
}

inline std::int64_t command_id(const std::string& s, const char* cmd) {
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec != std::errc{} || p != s.data() + s.size() || id < 1)
        throw usage_error(std::string(cmd) + " needs a command number (as 'relayctl off' printed it), got '" + s + "'");
    return id;
}

/// An io_context thread with the ChirpStack client (or an embedded simulator) and the service.
struct runtime {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::unique_ptr<relaylink::sim::simulator> sim;
    std::unique_ptr<relaylink::chirpstack::client> api;
    std::unique_ptr<st::store> db;
    std::unique_ptr<svc::service> service;
    std::atomic<svc::service*> live{nullptr}; ///< the service once built: the simulator's events go to it
    std::thread thread;

    runtime(const args& a, bool with_sim) {
        db = open_db(a);
        relaylink::chirpstack::config cc;
        svc::service_config cfg;
        if (with_sim) {
            relaylink::sim::simulator_config sc;
            sc.speed = static_cast<double>(a.integer("speed", 600, 1, 100000));
            sc.seed = std::random_device{}(); // queue item ids differ from one run to the next, as ChirpStack's do
            sim = std::make_unique<relaylink::sim::simulator>(io.get_executor(), sc);
            sim->start();
            cc.url = sim->url();
            cc.api_key = sc.api_key;
            cfg.clock = [this] { return sim->now(); };
            cfg.safety.windows = false; // simulated meters: no one to protect at night
            sim->on_event([this](const relaylink::sim::event_out& e) {
                // An event before the service exists (or after it is gone) has no one to go to.
                auto* to = live.load();
                if (!to) return;
                if (auto ev = relaylink::chirpstack::parse_event(e.type, e.json)) to->post_ingest(std::move(*ev));
            });
        } else {
            cc = client_config(a);
            if (a.flag("ignore-windows")) cfg.safety.windows = false;
        }
        cfg.tick = std::chrono::milliseconds(20);
        try {
            api = std::make_unique<relaylink::chirpstack::client>(io.get_executor(), cc);
        } catch (const std::invalid_argument& e) {
            throw usage_error(e.what());
        }
        service = std::make_unique<svc::service>(io.get_executor(), *api, *db, relaylink::device::profile_registry::with_builtins(), cfg);
        live = service.get();
        thread = std::thread([this] { io.run(); });
        service->start();
    }
    ~runtime() {
        live = nullptr;
        if (sim) { // no event reaches the service once it is going (UBSan saw one reach a null one)
            sim->stop();
            // The simulator emits on the I/O thread: once a handler posted now has run, no callback that
            // read `live` before it was cleared is still running.
            if (thread.joinable()) {
                std::promise<void> passed;
                auto done = passed.get_future();
                boost::asio::post(io, [&passed] { passed.set_value(); });
                done.wait_for(std::chrono::seconds(5));
            }
        }
        service.reset();
        api.reset();
        work.reset();
        io.stop();
        if (thread.joinable()) thread.join();
    }

    relaylink::sys_time now() const {
        return sim ? sim->now() : std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    }

    /// Wait (real time) until `done` holds for the command, or the timeout.
    template <class Done>
    st::command_row wait(std::int64_t id, std::chrono::milliseconds timeout, Done&& done) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto c = db->get(id).value();
            if (done(c) || std::chrono::steady_clock::now() >= until) return c;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
};

/// The options of the event sources.
inline const std::set<std::string> source_valued = {"mqtt", "topic", "client-id", "share", "username", "password-env", "ca",
                                                    "cert", "tls-key", "http", "http-path", "secret-env"};
inline const std::set<std::string> source_flags = {"insecure"};

/// An event source chosen on the command line (--mqtt URL or --http [ADDR:]PORT), running.
class event_source {
public:
    virtual ~event_source() = default;
    virtual std::string describe() const = 0;
    virtual relaylink::ingest::source_stats stats() const = 0;
    /// Until it receives (MQTT: connected and subscribed); false on timeout.
    virtual bool wait_ready(std::chrono::milliseconds timeout) const = 0;
};

/// True when --mqtt or --http was given.
bool has_source(const args& a);
/// Events from the source into the service, at most 10,000 not yet committed: the MQTT source waits for
/// room (the broker keeps the rest), the HTTP integration answers 503 (its I/O thread must never wait).
relaylink::ingest::event_sink feed_for(const args& a, relaylink::service::service& svc);
/// Starts the source the options name, feeding `sink`; its log lines go to stderr. usage_error for
/// bad options, failure when it cannot start (e.g. the HTTP port is taken).
std::unique_ptr<event_source> start_source(const args& a, boost::asio::any_io_executor ex, relaylink::ingest::event_sink sink);

} // namespace relayctl
