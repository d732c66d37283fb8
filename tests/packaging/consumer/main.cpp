// A program that uses relaylink as an outside project would: prints the SDM320C relay OFF frame.
#include <relaylink/relaylink.hpp>

#include <iostream>

int main() {
    auto d = relaylink::device::eastron_sdm320c().relay(false);
    auto profiles = relaylink::device::profiles_from_json(R"({"name":"x","fport":7,
        "relay_off":{"function":"write_single_coil","address":0,"value":0},
        "relay_on":{"function":"write_single_coil","address":0,"value":"0xFF00"}})");
    if (!d || !profiles) return 1;
    std::cout << relaylink::to_hex(d->payload.bytes()) << "\n";
    return relaylink::to_hex(d->payload.bytes()) == "010500000000CDCA" ? 0 : 1;
}
