// Checks made before anything is sent to ChirpStack, each with a message that names the value.
#pragma once

#include <relaylink/redact.hpp>
#include <relaylink/chirpstack/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace relaylink::chirpstack {

inline constexpr std::size_t max_payload_size = 242; // the largest LoRaWAN FRMPayload (EU868 DR7)

/// A DevEUI normalised to 16 lower-case hex digits; `why` explains a refusal.
inline result<std::string> normalize_dev_eui(std::string_view s, std::string* why = nullptr) {
    std::string out;
    out.reserve(16);
    for (char c : s) {
        if (c >= '0' && c <= '9')
            out.push_back(c);
        else if (c >= 'a' && c <= 'f')
            out.push_back(c);
        else if (c >= 'A' && c <= 'F')
            out.push_back(static_cast<char>(c - 'A' + 'a'));
        else {
            if (why) {
                const auto u = static_cast<unsigned char>(c);
                *why = "DevEUI must be 16 hex digits, got '" + shown(s) + "' (contains " +
                       (u >= 0x80 ? std::string("a non-ASCII character") : "'" + shown(std::string_view(&c, 1)) + "'") + ")";
            }
            return make_error_code(errc::invalid_dev_eui);
        }
    }
    if (out.size() != 16) {
        if (why) *why = "DevEUI must be 16 hex digits, got " + std::to_string(out.size()) + ": '" + shown(s) + "'";
        return make_error_code(errc::invalid_dev_eui);
    }
    return out;
}

inline error_code check_fport(long long fport, std::string* why = nullptr) {
    if (fport >= 1 && fport <= 223) return {};
    if (why) *why = "fPort must be 1-223 (0 is MAC commands, 224 the LoRaWAN test port, above reserved), got " + std::to_string(fport);
    return make_error_code(errc::invalid_fport);
}

inline error_code check_payload(std::size_t size, std::string* why = nullptr) {
    if (size >= 1 && size <= max_payload_size) return {};
    if (why)
        *why = size == 0 ? "payload is empty: a downlink needs at least 1 byte"
                         : "payload is " + std::to_string(size) + " bytes; a LoRaWAN downlink carries at most 242";
    return make_error_code(errc::invalid_payload);
}

} // namespace relaylink::chirpstack
