// relayctl off | on | status | history | cancel: relay commands through the relay service, recorded
// in a SQLite store (--db FILE, default $RELAYLINK_DB or ./relaylink.db).
#include "runtime.hpp"

#include <relaylink/service/report.hpp>

#include <boost/json.hpp>

#include <iostream>

namespace relayctl {
namespace {

namespace json = boost::json;

void print(const svc::command_view& v, bool as_json) {
    if (as_json)
        std::cout << json::serialize(svc::to_json(v)) << "\n";
    else
        std::cout << svc::timeline(v);
}

/// --wait without --json: the command's audit rows printed as they are written (Class A takes minutes).
class progress {
public:
    explicit progress(bool on) : on_(on) {}
    bool on() const { return on_; }
    void operator()(svc::service& s, std::int64_t id) {
        if (!on_) return;
        auto v = s.command(id);
        if (!v || v->events.size() <= printed_) return;
        if (printed_ == 0) std::cout << svc::summary_line(v->command) << "\n";
        for (; printed_ < v->events.size(); ++printed_)
            std::cout << svc::timeline_line(v->events.front().at, v->events[printed_], v->command.reason);
        std::cout.flush();
    }

private:
    bool on_;
    std::size_t printed_ = 0;
};

/// How long --wait waits by default: one reply timeout of the profile (its uplink interval times the
/// policy's intervals) and one more interval, in the time of the clock that runs (a simulator's is faster).
std::chrono::milliseconds default_wait(const std::string& profile, double speed) {
    const auto registry = relaylink::device::profile_registry::with_builtins();
    const auto* p = registry.find(profile);
    const auto interval = p ? p->uplink_interval : std::chrono::seconds{1200};
    const auto simulated = interval * (relaylink::command::policy{}.reply_timeout_intervals + 1);
    return std::chrono::milliseconds(static_cast<long long>(std::chrono::duration<double, std::milli>(simulated).count() / speed)) +
           std::chrono::seconds(speed > 1 ? 10 : 0);
}

std::string shown_duration(std::chrono::milliseconds d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s >= 3600 && s % 60 == 0) return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
    if (s >= 120) return std::to_string(s / 60) + " min";
    return std::to_string(s) + " s";
}

} // namespace

int cmd_relay(const std::vector<std::string>& argv, bool on) {
    const char* cmd = on ? "on" : "off";
    std::set<std::string> valued = net_valued;
    valued.insert({"db", "table-prefix", "profile", "meter-ref", "reason", "actor", "idempotency-key", "priority", "wait-timeout", "speed"});
    valued.insert(source_valued.begin(), source_valued.end());
    std::set<std::string> flags = {"wait", "json", "sim", "load-side", "ignore-windows"};
    flags.insert(source_flags.begin(), source_flags.end());
    args a(argv, flags, valued);
    const std::string eui = checked_eui(a, cmd);
    const bool with_sim = a.flag("sim");
    if (a.flag("load-side") && !with_sim) throw usage_error("--load-side describes a simulated meter: use it with --sim");
    if (with_sim && has_source(a))
        throw usage_error("--sim delivers the simulator's events in-process: drop --mqtt / --http, or drop --sim");
    if (has_source(a) && !a.flag("wait"))
        throw usage_error("--mqtt / --http follow the command's events: use them with --wait");
    if (a.flag("wait") && !with_sim && !has_source(a))
        throw usage_error("--wait needs the device's events: name an event source (--mqtt tcp://BROKER:1883 for ChirpStack's "
                          "MQTT integration, or --http [ADDR:]PORT for its HTTP integration), or use --sim");
    std::optional<std::chrono::milliseconds> wait_timeout;
    if (auto t = a.value("wait-timeout")) wait_timeout = parse_duration(*t, "wait-timeout");
    progress show(a.flag("wait") && !a.flag("json"));

    svc::request r;
    r.dev_eui = eui;
    r.profile = a.value("profile").value_or(with_sim ? "eastron_sdm320c" : "");
    r.meter_ref = a.value("meter-ref").value_or("");
    r.reason = a.value("reason").value_or("");
    r.actor = a.value("actor").value_or(default_actor());
    r.idempotency_key = a.value("idempotency-key").value_or("");
    r.priority = static_cast<int>(a.integer("priority", 5, 1, 10));

    runtime rt(a, with_sim);
    std::unique_ptr<event_source> source;
    if (has_source(a)) source = start_source(a, rt.io.get_executor(), feed_for(a, *rt.service));
    if (source && !source->wait_ready(std::chrono::seconds(30))) // events published before it subscribes never reach it
        throw failure("the event source did not connect within 30 s: " + source->describe());
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
    const auto waited = wait_timeout.value_or(default_wait(c.profile, with_sim ? static_cast<double>(a.integer("speed", 600, 1, 100000)) : 1.0));
    if (show.on() && !relaylink::command::is_terminal(c.rec.current)) // said first: on a loaded machine it may be confirmed before the first poll
        std::cout << "waiting up to " << shown_duration(waited)
                  << (wait_timeout ? "" : with_sim ? " (the profile's reply timeout and one uplink interval, at the simulator's speed)"
                                                   : " (the profile's reply timeout and one uplink interval)")
                  << " for the device (Class A: it fetches the command at its next uplink)\n";
    // Until ChirpStack has it (or it is refused, deferred, finished), or nothing more can be learnt now: its
    // outcome is unknown and the next reading of the device queue waits out a backoff (ChirpStack keeps failing).
    c = rt.wait(c.id, std::chrono::seconds(30), [&](const st::command_row& x) {
        show(*rt.service, x.id);
        if (x.rec.current == state::pending) // deferred to a window, or its enqueue failed and waits to be retried
            return (x.rec.not_before && *x.rec.not_before > rt.now()) || x.rec.retry_count > 0;
        return x.rec.current != state::dispatching || rt.service->busy() == 0;
    });
    // The row the wait judged was read before busy() was: the enqueue's answer may have been recorded in
    // between (busy() is 0 only once it is). Read it again, so "not known" means not known.
    if (auto fresh = rt.service->command(c.id)) c = std::move(fresh->command);
    if (c.rec.current == state::pending && c.rec.retry_count > 0) {
        print(*rt.service->command(c.id), a.flag("json"));
        std::cerr << "relayctl: ChirpStack did not take command #" << c.id << " (" << c.rec.error
                  << "); it stays pending in " << db_shown(a) << " and is retried by the next relayctl or service run\n";
        return 1;
    }
    if (c.rec.current == state::dispatching) { // ChirpStack's answer is not known (it kept failing or did not answer)
        const auto view = *rt.service->command(c.id);
        print(view, a.flag("json"));
        std::cerr << "relayctl: it is not known whether ChirpStack took command #" << c.id << " ("
                  << (view.events.empty() ? std::string("no answer") : view.events.back().cause)
                  << "); it stays in " << db_shown(a) << ", and the next relayctl or service run reads the device queue before "
                  << "anything is sent again\n";
        return 1;
    }
    if (a.flag("wait")) {
        c = rt.wait(c.id, waited, [&](const st::command_row& x) {
            show(*rt.service, x.id);
            return relaylink::command::is_terminal(x.rec.current);
        });
        show(*rt.service, c.id);
    }
    if (show.on())
        std::cout << svc::summary_line(c) << "\n";
    else
        print(*rt.service->command(c.id), a.flag("json"));
    if (c.rec.current == state::confirmed) return 0;
    if (relaylink::command::is_terminal(c.rec.current)) return 1;
    if (a.flag("wait")) {
        std::cerr << "relayctl: command #" << c.id << " is still " << relaylink::command::to_string(c.rec.current)
                  << " after waiting " << shown_duration(waited) << "; it goes on without relayctl: 'relayctl status " << c.id
                  << "' or 'relayctl watch' follow it\n";
        return 1;
    }
    return 0; // accepted: queued (or deferred); 'relayctl status' follows it
}

int cmd_status(const std::vector<std::string>& argv) {
    args a(argv, {"json"}, {"db", "table-prefix"});
    if (a.positional().size() != 1) throw usage_error("status needs a command number or a devEui, e.g. 'relayctl status 12'");
    const std::string& what = a.positional()[0];
    auto db = open_db(a);
    if (what.size() < 16) {
        const auto id = command_id(what, "status");
        auto c = db->get(id);
        if (!c) throw failure("no command #" + what + " in " + db_shown(a));
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
        std::cout << *eui << ": no record in " << db_shown(a) << "\n";
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
    args a(argv, {"json"}, {"db", "table-prefix", "limit"});
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
    if (rows.empty()) std::cout << "no command for " << eui << " in " << db_shown(a) << "\n";
    for (const auto& c : rows) std::cout << svc::timeline({c, db->events(c.id)});
    return 0;
}

int cmd_cancel(const std::vector<std::string>& argv) {
    std::set<std::string> valued = net_valued;
    valued.insert({"db", "table-prefix", "reason", "actor"});
    args a(argv, {"json"}, valued);
    if (a.positional().size() != 1) throw usage_error("cancel needs a command number, e.g. 'relayctl cancel 12'");
    const auto id = command_id(a.positional()[0], "cancel");
    runtime rt(a, false);
    auto c = rt.service->cancel(id, a.value("actor").value_or(default_actor()), a.value("reason").value_or(""));
    if (!c) throw failure("no command #" + a.positional()[0] + " in " + db_shown(a));
    // A queued command is withdrawn by flushing the device queue (and enqueuing again what stays).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (rt.service->busy() != 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto view = *rt.service->command(id);
    print(view, a.flag("json"));
    const auto s = view.command.rec.current;
    return s == state::cancelled || view.command.rec.cancel_requested ? 0 : 1;
}

} // namespace relayctl
