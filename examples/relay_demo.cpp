// The main job, end to end, on the embedded simulator with time sped up (600x: ten minutes pass in a
// second): a prepaid meter is disconnected and reconnected, an IVY meter too, each command reaching
// `confirmed` with the simulated relay physically switched; a second SDM320C whose UC100 bridge is
// powered from the load side goes silent after its disconnect and ends `unreachable_after_disconnect`.
// Everything goes through the relay service: safety guard, SQLite store, dispatcher, ChirpStack REST
// (the simulator's, over loopback), events, lifecycle, notifications. Prints each state change as it
// happens, then each command's timeline, then one summary line. Exits 1 if anything went wrong.
//
// The events travel as ChirpStack's would: by default the simulator POSTs them to relaylink's HTTP
// integration endpoint on loopback (`--events http`); `--events mqtt` publishes them to a broker
// that relaylink's MQTT source subscribes to (`--mqtt-url`, default tcp://127.0.0.1:1883);
// `--events inprocess` hands them over in memory.
//
//   relay_demo [--db FILE] [--speed 600] [--events http|mqtt|inprocess] [--mqtt-url URL]
#include <relaylink/ingest/http_integration.hpp>
#include <relaylink/ingest/mqtt_source.hpp>
#include <relaylink/service/report.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

using namespace relaylink;
using command::state;

namespace {

constexpr const char* meter_a = "70b3d5e700000001"; // SDM320C behind a UC100 powered from the line side
constexpr const char* meter_b = "70b3d5e700000002"; // SDM320C behind a UC100 powered from the load side
constexpr const char* meter_c = "a840410000000001"; // IVY EM114039

int usage(const char* why) {
    std::fprintf(stderr, "relay_demo: %s\nusage: relay_demo [--db FILE] [--speed 1-100000] [--events http|mqtt|inprocess] [--mqtt-url URL]\n", why);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string db_file = (std::filesystem::temp_directory_path() / "relaylink-demo.db").string();
    double speed = 600;
    std::string events = "http", mqtt_url = "tcp://127.0.0.1:1883";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--db" && i + 1 < argc) {
            db_file = argv[++i];
        } else if (a == "--events" && i + 1 < argc) {
            events = argv[++i];
            if (events != "http" && events != "mqtt" && events != "inprocess") return usage("--events takes http, mqtt or inprocess");
        } else if (a == "--mqtt-url" && i + 1 < argc) {
            mqtt_url = argv[++i];
        } else if (a == "--speed" && i + 1 < argc) {
            char* end = nullptr;
            speed = std::strtod(argv[++i], &end);
            if (!end || *end || speed < 1 || speed > 100000) return usage("--speed takes a number from 1 to 100000");
        } else {
            return usage(("unknown argument '" + a + "'").c_str());
        }
    }
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_file + suffix);

    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::unique_ptr<service::service> svc_owner; // made once the simulator's URL is known
    std::atomic<service::service*> ready{nullptr};
    auto sink = [&](chirpstack::event e) { // events before the service exists (first uplinks) are dropped
        if (auto* s = ready.load()) s->post_ingest(std::move(e));
    };

    // The event path: relaylink's HTTP integration endpoint or MQTT source, before the simulator
    // that posts or publishes to it.
    std::unique_ptr<ingest::http_integration> http_in;
    std::unique_ptr<ingest::mqtt_source> mqtt_in;
    auto log = [](ingest::log_level l, std::string_view m) {
        if (l >= ingest::log_level::warning) std::cerr << "relay_demo: " << m << std::endl;
    };
    sim::simulator_config sc;
    sc.speed = speed;
    try {
        if (events == "http") {
            ingest::http_integration_config hc;
            hc.secret = "relay-demo-secret";
            hc.log = log;
            http_in = std::make_unique<ingest::http_integration>(io.get_executor(), hc, sink);
            http_in->start();
            sc.integration_url = http_in->url();
            sc.integration_headers = {{hc.secret_header, hc.secret}};
        } else if (events == "mqtt") {
            ingest::mqtt_config mc;
            mc.url = mqtt_url;
            mc.client_id = "relaylink-relay-demo";
            mc.clean_session = true; // each run starts a new store: no earlier run's events wanted
            mc.log = log;
            mqtt_in = std::make_unique<ingest::mqtt_source>(mc, sink);
            sc.mqtt_url = mqtt_url;
            sc.mqtt_qos = 1; // as a deployment sets ChirpStack's [integration.mqtt] qos (docs/ingest.md)
        }
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    if (mqtt_in) { // before anything is made that an early return would have to take down
        mqtt_in->start();
        if (!mqtt_in->wait_connected(std::chrono::seconds(10))) {
            std::cerr << "relay_demo: " << mqtt_in->last_error() << " (start a broker, e.g. Debian's mosquitto, or use --events http)\n";
            return 1;
        }
    }
    sim::simulator simulator(io.get_executor(), sc);
    simulator.start();
    auto add = [&](const char* eui, sim::device_kind kind, sim::wiring power, const char* name) {
        sim::device_config d;
        d.dev_eui = eui;
        d.name = name;
        d.kind = kind;
        d.power = power;
        d.passthrough_port = kind == sim::device_kind::ivy_em114039 ? 10 : 5;
        d.uplink_interval = std::chrono::minutes(10);
        simulator.add_device(d);
    };
    add(meter_a, sim::device_kind::uc100_sdm320c, sim::wiring::line_side, "unit 12A (SDM320C, UC100 on the line side)");
    add(meter_b, sim::device_kind::uc100_sdm320c, sim::wiring::load_side, "unit 14B (SDM320C, UC100 on the load side)");
    add(meter_c, sim::device_kind::ivy_em114039, sim::wiring::line_side, "unit 3C (IVY EM114039)");

    chirpstack::config cc;
    cc.url = simulator.url();
    cc.api_key = sc.api_key;
    chirpstack::client api(io.get_executor(), cc);
    auto db = store::open_sqlite(db_file);
    service::service_config cfg;
    cfg.clock = [&] { return simulator.now(); };
    cfg.tick = std::chrono::milliseconds(20);
    cfg.safety.windows = false; // the simulator's clock is today's: a disconnect window could defer the demo
    svc_owner = std::make_unique<service::service>(io.get_executor(), api, *db, device::profile_registry::with_builtins(), cfg);
    service::service& svc = *svc_owner;
    ready = &svc;
    if (events == "inprocess")
        simulator.on_event([&](const sim::event_out& e) {
            if (auto ev = chirpstack::parse_event(e.type, e.json)) sink(std::move(*ev));
        });
    std::cout << "events: " << (http_in ? "ChirpStack's HTTP integration, POSTed to " + http_in->url()
                                : mqtt_in ? "ChirpStack's MQTT integration through " + mqtt_url + " (" + mqtt_in->subscription() + ")"
                                          : std::string("in process")) << "\n";

    const sys_time origin = simulator.now();
    std::mutex out_mu;
    auto stamp = [&] { return service::offset(origin, simulator.now()); };
    svc.on_command([&](const service::command_change& ch) {
        std::lock_guard lock(out_mu);
        std::cout << "  " << stamp() << "  #" << ch.command.id << " " << store::to_string(ch.command.kind) << " " << ch.command.dev_eui
                  << "  " << (ch.command.version == 1 ? "new" : command::to_string(ch.from)) << " -> "
                  << command::to_string(ch.command.rec.current) << "  ("
                  << to_string(ch.command.rec.proof) << ")" << std::endl;
    });
    svc.on_meter([&](const service::meter_change& m) {
        std::lock_guard lock(out_mu);
        std::cout << "  " << stamp() << "  meter " << m.meter.dev_eui << " relay " << store::to_string(m.from) << " -> "
                  << store::to_string(m.meter.relay) << std::endl;
    });

    std::thread runner([&] { io.run(); });
    svc.start();
    std::cout << "relaylink demo: ChirpStack + 3 meters simulated at " << speed << "x on " << simulator.url() << ", store "
              << db_file << "\n";

    auto request = [](const char* eui, const char* profile, const char* why) {
        service::request r;
        r.dev_eui = eui;
        r.profile = profile;
        r.actor = "demo-operator";
        r.reason = why;
        return r;
    };
    // Wait in simulated time: the simulator runs on, the service follows its events.
    auto wait_for = [&](std::int64_t id, auto done, std::chrono::minutes sim_limit) {
        const auto limit = simulator.now() + sim_limit;
        for (;;) {
            auto c = db->get(id).value();
            if (done(c) || simulator.now() > limit) return c;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    };
    auto terminal = [](const store::command_row& c) { return command::is_terminal(c.rec.current); };

    std::cout << "\n1. disconnect unit 12A (arrears) and unit 14B; disconnect the IVY meter of unit 3C\n";
    const auto off_a = svc.disconnect(request(meter_a, "eastron_sdm320c", "prepaid credit exhausted"));
    const auto off_b = svc.disconnect(request(meter_b, "eastron_sdm320c", "prepaid credit exhausted"));
    const auto off_c = svc.disconnect(request(meter_c, "ivy_em114039", "prepaid credit exhausted"));
    wait_for(off_a.id, terminal, std::chrono::minutes(90));
    wait_for(off_c.id, terminal, std::chrono::minutes(90));
    const bool a_opened = !simulator.device(meter_a)->relay_closed;
    const bool c_opened = !simulator.device(meter_c)->relay_closed;

    std::cout << "\n2. payment recorded: reconnect units 12A and 3C\n";
    const auto on_a = svc.reconnect(request(meter_a, "eastron_sdm320c", "payment received"));
    const auto on_c = svc.reconnect(request(meter_c, "ivy_em114039", "payment received"));
    wait_for(on_a.id, terminal, std::chrono::minutes(90));
    wait_for(on_c.id, terminal, std::chrono::minutes(90));

    std::cout << "\n3. unit 14B: its bridge lost power with the relay; waiting for relaylink to notice the silence\n";
    wait_for(off_b.id, terminal, std::chrono::minutes(180));
    const auto until = simulator.now() + std::chrono::minutes(30);
    while (db->meter(meter_b)->relay != store::relay_state::unreachable_after_disconnect && simulator.now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));

    std::cout << "\ntimelines (time since each command was requested, simulated):\n";
    for (auto id : {off_a.id, on_a.id, off_c.id, on_c.id, off_b.id}) std::cout << service::timeline(*svc.command(id)) << "\n";

    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
        std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
        if (!ok) ++failures;
    };
    auto st = [&](std::int64_t id) { return db->get(id)->rec.current; };
    std::cout << "checks:\n";
    check(st(off_a.id) == state::confirmed && a_opened, "unit 12A disconnect confirmed, relay physically open");
    check(st(on_a.id) == state::confirmed && simulator.device(meter_a)->relay_closed, "unit 12A reconnect confirmed, relay closed");
    check(db->meter(meter_a)->relay == store::relay_state::connected, "unit 12A shows connected");
    check(st(off_c.id) == state::confirmed && c_opened, "unit 3C (IVY) disconnect confirmed, relay physically open");
    check(st(on_c.id) == state::confirmed && simulator.device(meter_c)->relay_closed, "unit 3C (IVY) reconnect confirmed, relay closed");
    const auto mb = db->meter(meter_b).value();
    check(mb.relay == store::relay_state::unreachable_after_disconnect, "unit 14B shows unreachable_after_disconnect: " + mb.note);
    check(!simulator.device(meter_b)->relay_closed && !simulator.device(meter_b)->bridge_powered,
          "unit 14B relay open, its bridge without power");
    check(simulator.device(meter_a)->downlinks.size() == 2, "unit 12A received exactly 2 downlinks (no duplicate)");
    check(simulator.device(meter_b)->downlinks.size() == 1, "unit 14B received exactly 1 downlink (no retry into a dead bridge)");

    if (http_in || mqtt_in) {
        // The last events may still be on their way in: wait for them (a bound, for a loaded machine).
        auto in = http_in ? http_in->stats() : mqtt_in->stats();
        for (int i = 0; i < 200 && in.delivered < simulator.events_emitted(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            in = http_in ? http_in->stats() : mqtt_in->stats();
        }
        check(in.delivered >= simulator.events_emitted() && in.malformed + in.rejected + in.unsupported == 0,
              "every event (" + std::to_string(simulator.events_emitted()) + ") arrived through the " + events + " integration, none refused");
    }

    const auto counts = svc.counts();
    if (mqtt_in) mqtt_in->stop();
    if (http_in) http_in->stop();
    svc.stop();
    simulator.stop();
    work.reset();
    io.stop();
    runner.join();
    ready = nullptr;
    svc_owner.reset(); // before the store it writes to

    std::cout << "\n"
              << (failures ? "demo: FAILED (" + std::to_string(failures) + " checks)" : std::string("demo: every check passed"))
              << " — " << counts.at(state::confirmed) << " commands confirmed, " << (counts.count(state::failed) ? counts.at(state::failed) : 0)
              << " failed as expected (unit 14B unreachable after disconnect); audit trail in " << db_file << "\n";
    return failures ? 1 : 0;
}
