// The evidence ladder: the strongest proof relaylink holds that a command took effect.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace relaylink {

enum class evidence : std::uint8_t {
    none = 0,
    gateway_accepted,    ///< txack: a gateway accepted the frame for transmission
    device_acknowledged, ///< ack with acknowledged=true: the device received a confirmed downlink
    device_replied,      ///< the device's Modbus reply (the echo of a write) arrived in an uplink
    state_verified,      ///< a later read-back shows the relay in the commanded state
};

constexpr std::string_view to_string(evidence e) noexcept {
    switch (e) {
    case evidence::none: return "none";
    case evidence::gateway_accepted: return "gateway_accepted";
    case evidence::device_acknowledged: return "device_acknowledged";
    case evidence::device_replied: return "device_replied";
    case evidence::state_verified: return "state_verified";
    }
    return "unknown";
}

constexpr std::optional<evidence> evidence_from_name(std::string_view s) noexcept {
    for (auto e : {evidence::none, evidence::gateway_accepted, evidence::device_acknowledged, evidence::device_replied,
                   evidence::state_verified})
        if (to_string(e) == s) return e;
    return std::nullopt;
}

} // namespace relaylink
