// What making a ChirpStack client of a configuration is refused with.
#pragma once

#include <relaylink/chirpstack/sync_client.hpp>

#include <stdexcept>
#include <string>

namespace relaylink::test {

/// The message of the std::invalid_argument a sync_client of `cfg` throws, or "" when the client is made.
inline std::string refusal_of(const chirpstack::config& cfg) {
    try {
        chirpstack::sync_client c(cfg);
        return "";
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

} // namespace relaylink::test
