// The demo, for now: a relay OFF and a relay ON travel through the embedded simulator exactly as they
// would through ChirpStack — enqueue over REST, the device's next uplink, txack, the meter switching,
// its Modbus echo in an uplink, the ACK — and a meter whose bridge is powered from the load side goes
// silent after its disconnect. Exits non-zero if anything does not happen as it should.
#include <relaylink/chirpstack/event.hpp>
#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/device.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>
#include <mutex>
#include <thread>

using namespace relaylink;
namespace cs = relaylink::chirpstack;

int main() {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    sim::simulator s(io.get_executor(), {.manual_time = true});
    s.start();
    std::thread runner([&] { io.run(); });
    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
        std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
        if (!ok) ++failures;
    };

    std::mutex m;
    std::vector<cs::event> events;
    s.on_event([&](const sim::event_out& e) {
        auto parsed = cs::parse_event(e.type, e.json);
        std::lock_guard lock(m);
        if (parsed) events.push_back(*parsed);
    });
    s.add_device({.dev_eui = "70b3d5e700000001", .name = "flat 12 (line side)"});
    s.add_device({.dev_eui = "70b3d5e700000002", .name = "flat 14 (load side)", .power = sim::wiring::load_side});

    cs::sync_client ns({.url = s.url(), .api_key = s.settings().api_key});
    const auto profile = device::eastron_sdm320c();

    auto send = [&](const std::string& eui, bool on) {
        const auto d = profile.relay(on).value();
        const std::string id = ns.enqueue(eui, {d.confirmed, d.fport, bytes(d.payload.begin(), d.payload.end()), std::nullopt, false});
        std::cout << "\n" << (on ? "relay ON " : "relay OFF") << " for " << eui << ": enqueued " << to_hex(d.payload.bytes(), " ")
                  << " on fPort " << int(d.fport) << " as queue item " << id << "\n";
        for (int uplink = 1; uplink <= 2; ++uplink) {
            {
                std::lock_guard lock(m);
                events.clear();
            }
            const bool sent = s.trigger_uplink(eui);
            std::cout << "  uplink " << uplink << (sent ? "" : ": the device is silent (no power)") << "\n";
            std::lock_guard lock(m);
            for (const auto& e : events) {
                std::cout << "    event " << cs::type_of(e);
                if (auto* tx = std::get_if<cs::txack_event>(&e)) std::cout << "  queue item " << tx->queue_item_id << " accepted by gateway";
                if (auto* ack = std::get_if<cs::ack_event>(&e)) std::cout << "  acknowledged=" << (ack->acknowledged ? "true" : "false");
                if (auto* up = std::get_if<cs::up_event>(&e)) {
                    auto match = profile.match_reply(d.payload.bytes(), up->f_port, up->data);
                    std::cout << "  fPort " << int(up->f_port) << "  " << to_hex(up->data, " ")
                              << (match.kind == device::reply_kind::reply ? "  <- the meter's echo: relay switched" : "  (periodic report)");
                }
                std::cout << "\n";
            }
        }
        return id;
    };

    std::cout << "relaylink demo on the embedded simulator (" << s.url() << ")\n";
    send("70b3d5e700000001", false);
    check(!s.device("70b3d5e700000001")->relay_closed, "flat 12: the relay is open (power cut)");
    send("70b3d5e700000001", true);
    check(s.device("70b3d5e700000001")->relay_closed, "flat 12: the relay is closed again (power restored)");
    send("70b3d5e700000002", false);
    check(!s.device("70b3d5e700000002")->relay_closed, "flat 14: the relay is open");
    check(!s.device("70b3d5e700000002")->bridge_powered,
          "flat 14: its UC100 is powered from the load side and went silent: a reconnect needs power restored on site");
    check(s.device("70b3d5e700000001")->downlinks.size() == 2, "flat 12 received exactly two downlinks (no duplicates)");

    s.stop();
    work.reset();
    io.stop();
    runner.join();
    std::cout << "\n" << (failures ? std::to_string(failures) + " check(s) failed" : std::string("demo: every check passed")) << "\n";
    return failures ? 1 : 0;
}
