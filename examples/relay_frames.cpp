// Example: the relay downlinks of every built-in profile, and how a reply is recognised.
#include <relaylink/relaylink.hpp>

#include <iostream>

int main() {
    namespace dev = relaylink::device;
    for (const auto& p : dev::builtin_profiles()) {
        for (bool on : {false, true}) {
            auto d = p.relay(on);
            if (!d) {
                std::cerr << p.name << ": " << d.error().message() << "\n";
                return 1;
            }
            std::cout << p.name << (on ? " on:  " : " off: ") << "fPort " << int(d->fport) << " "
                      << relaylink::to_hex(d->payload.bytes(), " ") << "  (" << relaylink::to_base64(d->payload.bytes())
                      << ")\n";
        }
    }
    // The SDM320C's reply to a write is the echo of the request, on the pass-through port.
    const auto sdm = dev::eastron_sdm320c();
    const auto off = sdm.relay(false).value();
    const auto match = sdm.match_reply(off.payload, 5, off.payload.bytes());
    std::cout << "echo on fPort 5 is the reply: " << (match.kind == dev::reply_kind::reply ? "yes" : "no") << "\n";
    return match.kind == dev::reply_kind::reply ? 0 : 1;
}
