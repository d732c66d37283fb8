// Fuzz the profile loader: any text is refused cleanly or loads a profile that round-trips and
// encodes its relay frames.
#include <relaylink/device.hpp>

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace relaylink::device;
    auto r = profiles_from_json(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) {
        if (r.error().message.empty()) std::abort();
        return 0;
    }
    for (const auto& p : *r) {
        if (!p.relay(false) || !p.relay(true)) std::abort(); // the loader validated them
        auto back = profile_from_json(to_json(p));
        if (!back || !(*back == p)) std::abort();
    }
    return 0;
}
