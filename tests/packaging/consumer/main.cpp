// A program that uses relaylink as an outside project would: prints the SDM320C relay OFF frame.
#include <relaylink/chirpstack/event.hpp>
#include <relaylink/ingest/http_integration.hpp>
#include <relaylink/relaylink.hpp>
#include <relaylink/sim/network.hpp>
#include <relaylink/store/store.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>
#include <stdexcept>

int main() {
    auto d = relaylink::device::eastron_sdm320c().relay(false);
    auto profiles = relaylink::device::profiles_from_json(R"({"name":"x","fport":7,
        "relay_off":{"function":"write_single_coil","address":0,"value":0},
        "relay_on":{"function":"write_single_coil","address":0,"value":"0xFF00"}})");
    if (!d || !profiles) return 1;
    relaylink::sim::network net;
    int events = 0;
    net.set_sink([&](const relaylink::sim::event_out& e) { events += relaylink::chirpstack::parse_event(e.type, e.json) ? 1 : 0; });
    net.add_device({.dev_eui = "0101010101010101"}, relaylink::sys_time{});
    net.uplink(*net.find("0101010101010101"), relaylink::sys_time{} + std::chrono::hours(1));
    if (events != 1) return 1;
    auto db = relaylink::store::make_memory_store();
    boost::asio::io_context io;
    relaylink::ingest::http_integration_config hc;
    hc.path = "no-slash";
    try {
        relaylink::ingest::http_integration h(io.get_executor(), hc, [](relaylink::chirpstack::event) {});
        return 1;
    } catch (const std::invalid_argument&) { // the ingest library is linked and checks its settings
    }
    std::cout << relaylink::to_hex(d->payload.bytes()) << "\n";
    return relaylink::to_hex(d->payload.bytes()) == "010500000000CDCA" ? 0 : 1;
}
