// Fuzz the integration-event parser and the topic parser: any bytes are parsed or refused with a
// message, never a crash, leak or out-of-bounds read, and the parser's fast path agrees with its DOM path. The
// first byte picks the event type.
#include <relaylink/chirpstack/event.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace relaylink::chirpstack;
    static event_parser parser;
    static constexpr std::string_view types[] = {"up", "ack", "txack", "log", "status", "join", "location", "other"};
    if (size == 0) return 0;
    const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
    auto r = parser.parse(types[data[0] % 8], payload);
    if (!r && r.error().message.empty()) std::abort();
    // The fast path (up, ack, txack, join without a DOM) and the DOM path give the same answer to every input.
    auto dom = parser.parse_dom(types[data[0] % 8], payload);
    if (r.has_value() != dom.has_value()) std::abort();
    if (r && !(*r == *dom)) std::abort();
    if (!r && (r.error().field != dom.error().field || r.error().message != dom.error().message)) std::abort();
    if (r && type_of(*r) != types[data[0] % 8]) std::abort();
    auto t = parse_topic(payload);
    if (t && t->dev_eui.size() != 16) std::abort();
    return 0;
}
