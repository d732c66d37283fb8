// Fuzz the reply decoder and the request parser. The first input byte picks one of the requests a
// profile really sends; the rest is the reply. Checks: no crash or out-of-bounds read, and every
// reply that decodes re-encodes to exactly the same bytes (a round trip).
#include <relaylink/device.hpp>
#include <relaylink/modbus.hpp>

#include <cstdlib>
#include <vector>

namespace {
const std::vector<relaylink::modbus::request>& requests() {
    using namespace relaylink::modbus;
    static const std::vector<request> all = [] {
        std::vector<request> v;
        for (const auto& f : {write_single_coil(1, 0, false), write_single_coil(1, 0, true), read_coils(1, 0, 1),
                              read_coils(2, 3, 17), read_discrete_inputs(1, 0, 9), read_holding_registers(1, 0, 10),
                              read_input_registers(1, 0x48, 2), write_single_register(1, 0, 1)})
            v.push_back(parse_request(f.value().bytes()).value());
        const std::uint16_t regs[] = {0xFFFF, 0xFFFF};
        v.push_back(parse_request(write_multiple_registers(1, 167, regs).value().bytes()).value());
        const bool coils[] = {true, false, true};
        v.push_back(parse_request(write_multiple_coils(1, 0, std::span<const bool>(coils)).value().bytes()).value());
        return v;
    }();
    return all;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace relaylink::modbus;
    if (size == 0) return 0;
    const auto& req = requests()[data[0] % requests().size()];
    std::span<const std::uint8_t> reply(data + 1, size - 1);

    auto r = decode_response(req, reply);
    if (r) {
        const frame again = r->exception ? encode_exception(r->slave, r->function, *r->exception)
                                         : encode_response(req, is_read(req.function) ? std::span<const std::uint16_t>(r->values)
                                                                                      : std::span<const std::uint16_t>{})
                                               .value();
        if (!std::equal(again.begin(), again.end(), reply.begin(), reply.end())) {
            // Bits past the quantity in the last byte of a bit read are padding and may differ.
            if (!(is_bit_function(req.function) && is_read(req.function) && again.size() == reply.size())) std::abort();
        }
    }
    // The same bytes as a request frame: parse, and if valid, re-encode to the same bytes.
    auto q = parse_request(reply);
    if (q) {
        auto f = encode(*q);
        if (!f) std::abort();
        if (q->function != function_code::write_multiple_coils &&
            !std::equal(f->begin(), f->end(), reply.begin(), reply.end()))
            std::abort();
    }
    // And through a profile, as the service sees uplinks.
    static const auto sdm = relaylink::device::eastron_sdm320c();
    static const auto off = sdm.relay(false).value();
    (void)sdm.match_reply(off.payload.bytes(), 5, reply);
    return 0;
}
