// Text forms of bytes: hex (how operators write Modbus frames) and base64 (how ChirpStack carries
// payloads in JSON). Decoders return errors, never throw.
#pragma once

#include <relaylink/error.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relaylink {

using bytes = std::vector<std::uint8_t>;

/// "010500000000CDCA" (upper case); with a separator: "01 05 00 00 00 00 CD CA".
inline std::string to_hex(std::span<const std::uint8_t> data, std::string_view separator = {}) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(data.size() * (2 + separator.size()));
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (i && !separator.empty()) out.append(separator);
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 0x0F]);
    }
    return out;
}

namespace detail {
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace detail

/// Parse hex; spaces, ':' and '-' between byte pairs are ignored, as is a leading "0x".
inline result<bytes> from_hex(std::string_view text) {
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
    bytes out;
    out.reserve(text.size() / 2);
    int high = -1;
    for (char c : text) {
        if (c == ' ' || c == ':' || c == '-' || c == '\t') {
            if (high >= 0) return make_error_code(errc::odd_hex_length);
            continue;
        }
        const int v = detail::hex_value(c);
        if (v < 0) return make_error_code(errc::invalid_hex);
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(high << 4 | v));
            high = -1;
        }
    }
    if (high >= 0) return make_error_code(errc::odd_hex_length);
    return out;
}

/// Standard base64 (RFC 4648, with padding), as ChirpStack's JSON uses for bytes.
inline std::string to_base64(std::span<const std::uint8_t> data) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = std::uint32_t{data[i]} << 16 | std::uint32_t{data[i + 1]} << 8 | data[i + 2];
        for (int s : {18, 12, 6, 0}) out.push_back(alphabet[(v >> s) & 0x3F]);
    }
    if (const std::size_t rest = data.size() - i) {
        std::uint32_t v = std::uint32_t{data[i]} << 16;
        if (rest == 2) v |= std::uint32_t{data[i + 1]} << 8;
        out.push_back(alphabet[(v >> 18) & 0x3F]);
        out.push_back(alphabet[(v >> 12) & 0x3F]);
        out.push_back(rest == 2 ? alphabet[(v >> 6) & 0x3F] : '=');
        out.push_back('=');
    }
    return out;
}

/// Decode standard base64; padding is required when the length is not a multiple of 4 would need it,
/// but unpadded input is accepted too (gRPC-gateway accepts both). URL-safe '-' '_' are accepted.
inline result<bytes> from_base64(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::size_t len = text.size();
    std::size_t pad = 0;
    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        --len;
        ++pad;
    }
    if (pad && (len + pad) % 4 != 0) return make_error_code(errc::invalid_base64);
    if (len % 4 == 1) return make_error_code(errc::invalid_base64);
    bytes out;
    out.reserve(len * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < len; ++i) {
        const int v = value(text[i]);
        if (v < 0) return make_error_code(errc::invalid_base64);
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFFU));
        }
    }
    // Leftover bits must be zero, else the text was not produced by an encoder.
    if (bits > 0 && (acc & ((1U << bits) - 1U)) != 0) return make_error_code(errc::invalid_base64);
    return out;
}

} // namespace relaylink
