// relayctl off | on | status | history | cancel: relay commands through the relay service, recorded
// in a SQLite store (--db FILE, default $RELAYLINK_DB or ./relaylink.db).
#include "cli.hpp"

#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/service/report.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

namespace relayctl {
namespace {

namespace json = boost::json;
namespace svc = relaylink::service;
namespace st = relaylink::store;
using relaylink::command::state;

std::string db_path(const args& a) {
    if (auto d = a.value("db")) {
        if (d->empty()) throw usage_error("--db must name a file");
        return *d;
    }
    if (const char* e = std::getenv("RELAYLINK_DB"); e && *e) return e;
    return "relaylink.db";
}

std::unique_ptr<st::store> open_db(const args& a) {
    try {
        return st::open_sqlite(db_path(a));
    } catch (const st::store_error& e) {
        throw failure(e.what());
    }
}

std::string default_actor() {
    const char* u = std::getenv("USER");
    return u && *u ? std::string(u) : std::string("relayctl");
}

/// The one <devEui> of `cmd`, normalised (16 lower-case hex digits); usage_error otherwise.
std::string checked_eui(const args& a, const char* cmd) {
    std::string why;
    auto e = relaylink::chirpstack::normalize_dev_eui(one_eui(a, cmd), &why);
    if (!e) throw usage_error(why);
    return *e;
}

std::int64_t command_id(const std::string& s, const char* cmd) {
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
                if (auto ev = relaylink::chirpstack::parse_event(e.type, e.json)) service->post_ingest(std::move(*ev));
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
        thread = std::thread([this] { io.run(); });
        service->start();
    }
    ~runtime() {
        service.reset();
        api.reset();
        if (sim) sim->stop();
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

void print(const svc::command_view& v, bool as_json) {
    if (as_json)
        std::cout << json::serialize(svc::to_json(v)) << "\n";
    else
        std::cout << svc::timeline(v);
}

} // namespace

int cmd_relay(const std::vector<std::string>& argv, bool on) {
    const char* cmd = on ? "on" : "off";
    std::set<std::string> valued = net_valued;
    valued.insert({"db", "profile", "meter-ref", "reason", "actor", "key", "priority", "wait-timeout", "speed"});
    args a(argv, {"wait", "json", "sim", "load-side", "ignore-windows"}, valued);
    const std::string eui = checked_eui(a, cmd);
    const bool with_sim = a.flag("sim");
    if (a.flag("load-side") && !with_sim) throw usage_error("--load-side describes a simulated meter: use it with --sim");
    if (a.flag("wait") && !with_sim)
        throw usage_error("--wait needs the device's events, which reach relaylink through an event source; here, use --sim "
                          "(the embedded simulator delivers its events in-process)");
    const auto wait_timeout = parse_duration(a.value("wait-timeout").value_or(with_sim ? "2m" : "1m"), "wait-timeout");

    svc::request r;
    r.dev_eui = eui;
    r.profile = a.value("profile").value_or(with_sim ? "eastron_sdm320c" : "");
    r.meter_ref = a.value("meter-ref").value_or("");
    r.reason = a.value("reason").value_or("");
    r.actor = a.value("actor").value_or(default_actor());
    r.idempotency_key = a.value("key").value_or("");
    r.priority = static_cast<int>(a.integer("priority", 5, 1, 10));

    runtime rt(a, with_sim);
    if (with_sim) {
        relaylink::sim::device_config d;
        d.dev_eui = eui;
        const auto registry = relaylink::device::profile_registry::with_builtins();
        const auto* prof = registry.find(r.profile);
        d.kind = prof && prof->name == "ivy_em114039" ? relaylink::sim::device_kind::ivy_em114039 : relaylink::sim::device_kind::uc100_sdm320c;
        d.passthrough_port = prof ? prof->fport : 5;
        d.power = a.flag("load-side") ? relaylink::sim::wiring::load_side : relaylink::sim::wiring::line_side;
        d.relay_closed = !on;
        rt.sim->add_device(d);
    }
    st::command_row c;
    try {
        c = on ? rt.service->reconnect(r) : rt.service->disconnect(r);
    } catch (const svc::request_error& e) {
        throw usage_error(std::string("--") + (e.field() == "dev_eui" ? "devEui" : e.field()) + ": " + e.what());
    }
    // Until ChirpStack has it (or it is refused, deferred, finished).
    c = rt.wait(c.id, std::chrono::seconds(30), [&](const st::command_row& x) {
        if (x.rec.current == state::pending) // deferred to a window, or its enqueue failed and waits to be retried
            return (x.rec.not_before && *x.rec.not_before > rt.now()) || x.rec.retry_count > 0;
        return x.rec.current != state::dispatching;
    });
    if (c.rec.current == state::pending && c.rec.retry_count > 0) {
        print(*rt.service->command(c.id), a.flag("json"));
        std::cerr << "relayctl: ChirpStack did not take command #" << c.id << " (" << c.rec.error
                  << "); it stays pending in " << db_path(a) << " and is retried by the next relayctl or service run\n";
        return 1;
    }
    if (a.flag("wait"))
        c = rt.wait(c.id, wait_timeout, [](const st::command_row& x) { return relaylink::command::is_terminal(x.rec.current); });
    print(*rt.service->command(c.id), a.flag("json"));
    if (c.rec.current == state::confirmed) return 0;
    if (relaylink::command::is_terminal(c.rec.current)) return 1;
    if (a.flag("wait")) {
        std::cerr << "relayctl: command #" << c.id << " is still " << relaylink::command::to_string(c.rec.current)
                  << " after waiting " << a.value("wait-timeout").value_or(with_sim ? "2m" : "1m") << "\n";
        return 1;
    }
    return 0; // accepted: queued (or deferred); 'relayctl status' follows it
}

int cmd_status(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {"db"});
    if (a.positional().size() != 1) throw usage_error("status needs a command number or a devEui, e.g. 'relayctl status 12'");
    const std::string& what = a.positional()[0];
    auto db = open_db(a);
    if (what.size() < 16) {
        const auto id = command_id(what, "status");
        auto c = db->get(id);
        if (!c) throw failure("no command #" + what + " in " + db_path(a));
        print(svc::command_view{*c, db->events(id)}, a.flag("json"));
        return 0;
    }
    std::string why;
    auto eui = relaylink::chirpstack::normalize_dev_eui(what, &why);
    if (!eui) throw usage_error(why);
    auto m = db->meter(*eui);
    auto open = db->open(*eui);
    if (a.flag("json")) {
        json::array arr;
        for (const auto& c : open) arr.push_back(svc::to_json(c));
        std::cout << json::serialize(json::object{{"meter", m ? json::value(svc::to_json(*m)) : json::value(nullptr)},
                                                  {"openCommands", std::move(arr)}})
                  << "\n";
        return 0;
    }
    if (!m) {
        std::cout << *eui << ": no record in " << db_path(a) << "\n";
        return 0;
    }
    std::cout << *eui << "  relay " << st::to_string(m->relay) << "  profile " << m->profile << "  last uplink "
              << (m->last_uplink ? relaylink::format_rfc3339(*m->last_uplink) : "never") << "\n";
    if (!m->note.empty()) std::cout << "  " << m->note << "\n";
    if (open.empty()) std::cout << "  no open command\n";
    for (const auto& c : open) std::cout << "  " << svc::summary_line(c) << "\n";
    return 0;
}

int cmd_history(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {"db", "limit"});
    const std::string eui = checked_eui(a, "history");
    const auto limit = static_cast<std::size_t>(a.integer("limit", 20, 1, 100000));
    auto db = open_db(a);
    const auto rows = db->history(eui, limit);
    if (a.flag("json")) {
        json::array arr;
        for (const auto& c : rows) arr.push_back(svc::to_json(svc::command_view{c, db->events(c.id)}));
        std::cout << json::serialize(arr) << "\n";
        return 0;
    }
    if (rows.empty()) std::cout << "no command for " << eui << " in " << db_path(a) << "\n";
    for (const auto& c : rows) std::cout << svc::timeline({c, db->events(c.id)});
    return 0;
}

int cmd_cancel(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert({"db", "reason", "actor"});
    args a(argv, {"json"}, valued);
    if (a.positional().size() != 1) throw usage_error("cancel needs a command number, e.g. 'relayctl cancel 12'");
    const auto id = command_id(a.positional()[0], "cancel");
    runtime rt(a, false);
    auto c = rt.service->cancel(id, a.value("actor").value_or(default_actor()), a.value("reason").value_or(""));
    if (!c) throw failure("no command #" + a.positional()[0] + " in " + db_path(a));
    // A queued command is withdrawn by flushing the device queue (and enqueuing again what stays).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (rt.service->busy() != 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto view = *rt.service->command(id);
    print(view, a.flag("json"));
    const auto s = view.command.rec.current;
    return s == state::cancelled || view.command.rec.cancel_requested ? 0 : 1;
}

} // namespace relayctl
