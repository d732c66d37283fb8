// relayctl sim: run the ChirpStack + device simulator until interrupted.
#include "cli.hpp"

#include <relaylink/chirpstack/event.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace relayctl {

int cmd_sim(const std::vector<std::string>& argv) {
    args a(argv, {"manual", "events", "json"},
           {"port", "address", "api-key", "speed", "sdm", "ivy", "load-side", "interval", "integration-url", "mqtt-url", "mqtt-qos", "seed",
            "integration-secret-env", "event-order"});
    if (!a.positional().empty()) throw usage_error("sim takes no positional arguments (see 'relayctl help')");
    relaylink::sim::simulator_config cfg;
    cfg.address = a.value("address").value_or("127.0.0.1");
    cfg.port = static_cast<unsigned short>(a.integer("port", 8090, 0, 65535));
    if (auto k = a.value("api-key")) {
        if (k->empty()) throw usage_error("--api-key must not be empty");
        cfg.api_key = *k;
    }
    cfg.speed = static_cast<double>(a.integer("speed", 600, 1, 100000));
    cfg.manual_time = a.flag("manual");
    cfg.seed = static_cast<std::uint64_t>(a.integer("seed", 1, 0, 1LL << 62));
    cfg.integration_url = a.value("integration-url").value_or("");
    if (auto v = a.value("integration-secret-env")) {
        if (cfg.integration_url.empty()) throw usage_error("--integration-secret-env goes with --integration-url");
        const char* secret = std::getenv(v->c_str());
        if (!secret) throw usage_error("--integration-secret-env " + *v + ": that environment variable is not set");
        cfg.integration_headers = {{"X-Relaylink-Secret", secret}}; // what relaylink's HTTP integration endpoint checks
    }
    cfg.mqtt_url = a.value("mqtt-url").value_or("");
    cfg.mqtt_qos = static_cast<int>(a.integer("mqtt-qos", cfg.mqtt_qos, 0, 2)); // ChirpStack's default: 0
    if (a.value("mqtt-qos") && cfg.mqtt_url.empty()) throw usage_error("--mqtt-qos goes with --mqtt-url");
    if (auto o = a.value("event-order")) {
        if (*o == "observed") cfg.order = relaylink::sim::event_order::observed;
        else if (*o == "shuffled") cfg.order = relaylink::sim::event_order::shuffled;
        else throw usage_error("--event-order must be 'observed' (up, ack, log, txack, as ChirpStack was seen to publish them) or 'shuffled', got '" + *o + "'");
    }
    const auto sdm = a.integer("sdm", 2, 0, 100000);
    const auto ivy = a.integer("ivy", 1, 0, 100000);
    const auto load_side = a.integer("load-side", 1, 0, 100000);
    if (load_side > sdm) throw usage_error("--load-side " + std::to_string(load_side) + " is more than --sdm " + std::to_string(sdm));
    const auto interval = a.integer("interval", 600, 1, 86400);

    boost::asio::io_context io;
    std::unique_ptr<relaylink::sim::simulator> s;
    try {
        s = std::make_unique<relaylink::sim::simulator>(io.get_executor(), cfg);
        s->start();
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    } catch (const std::exception& e) {
        throw failure("cannot listen on " + cfg.address + ":" + std::to_string(cfg.port) + ": " + e.what());
    }
    std::vector<std::string> euis;
    auto add = [&](relaylink::sim::device_kind kind, long long i, bool load) {
        char eui[32];
        std::snprintf(eui, sizeof eui, "%s%08llx", kind == relaylink::sim::device_kind::uc100_sdm320c ? "70b3d5e7" : "a8404100", static_cast<unsigned long long>(i + 1) & 0xFFFFFFFFULL);
        relaylink::sim::device_config d;
        d.dev_eui = eui;
        d.kind = kind;
        d.power = load ? relaylink::sim::wiring::load_side : relaylink::sim::wiring::line_side;
        d.uplink_interval = std::chrono::seconds(interval);
        d.status_every = 24; // a device profile that asks for the device status (battery, margin)
        d.name = std::string(kind == relaylink::sim::device_kind::uc100_sdm320c ? "sdm320c-" : "ivy-") + std::to_string(i + 1) +
                 (load ? " (load side)" : "");
        s->add_device(d);
        euis.push_back(std::string(eui) + "  " + d.name);
    };
    for (long long i = 0; i < sdm; ++i) add(relaylink::sim::device_kind::uc100_sdm320c, i, i >= sdm - load_side);
    for (long long i = 0; i < ivy; ++i) add(relaylink::sim::device_kind::ivy_em114039, i, false);
    if (a.flag("events"))
        s->on_event([json = a.flag("json")](const relaylink::sim::event_out& e) {
            if (json)
                std::cout << "{\"topic\":\"" << e.topic() << "\",\"payload\":" << e.json << "}" << std::endl;
            else
                std::cout << e.type << "  " << e.dev_eui << "  " << e.json.substr(0, 160) << std::endl;
        });

    std::cout << "relaylink simulator (ChirpStack v4 REST) on " << s->url() << "\n"
              << "API key: " << cfg.api_key << " (a test key of the simulator, not a secret)\n"
              << "time: " << (cfg.manual_time ? "manual (POST /sim/devices/{eui}/uplink or /sim/advance)" : std::to_string(static_cast<long long>(cfg.speed)) + "x")
              << "\ndevices:\n";
    for (const auto& e : euis) std::cout << "  " << e << "\n";
    if (!cfg.mqtt_url.empty())
        std::cout << "events published to " << cfg.mqtt_url << " (application/+/device/+/event/+, QoS " << cfg.mqtt_qos
                  << (cfg.mqtt_qos == 0 ? ", ChirpStack's default: events published while a subscriber is away are lost; --mqtt-qos 1 keeps them"
                                        : "")
                  << ")\n";
    if (!cfg.integration_url.empty()) std::cout << "events posted to " << cfg.integration_url << "?event=<type>\n";
    std::cout << "control API: " << s->url() << "/sim/devices  (Ctrl-C stops)" << std::endl;

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](relaylink::error_code, int) {
        s->stop();
        io.stop();
    });
    io.run();
    return 0;
}

} // namespace relayctl
