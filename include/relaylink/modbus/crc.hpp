// CRC-16/MODBUS (reflected polynomial 0xA001, init 0xFFFF, no final xor; sent low byte first).
// Table-driven, slicing-by-8 for long buffers, incremental, usable in constant expressions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace relaylink::modbus {

inline constexpr std::uint16_t crc16_init = 0xFFFF;

namespace detail {
inline constexpr std::array<std::array<std::uint16_t, 256>, 8> crc16_tables = [] {
    std::array<std::array<std::uint16_t, 256>, 8> t{};
    for (unsigned i = 0; i < 256; ++i) {
        std::uint16_t c = static_cast<std::uint16_t>(i);
        for (int k = 0; k < 8; ++k) c = (c & 1U) ? static_cast<std::uint16_t>((c >> 1) ^ 0xA001U) : static_cast<std::uint16_t>(c >> 1);
        t[0][i] = c;
    }
    // t[k][i]: the CRC contribution of byte i followed by k zero bytes.
    for (unsigned i = 0; i < 256; ++i)
        for (std::size_t k = 1; k < 8; ++k)
            t[k][i] = static_cast<std::uint16_t>((t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFU]);
    return t;
}();
} // namespace detail

/// Continue a CRC over more bytes: crc16_update(crc16_update(crc16_init, a), b) == crc16(a ++ b).
constexpr std::uint16_t crc16_update(std::uint16_t crc, std::span<const std::uint8_t> data) noexcept {
    const auto& t = detail::crc16_tables;
    const std::uint8_t* p = data.data();
    std::size_t n = data.size();
    // Slicing-by-8: eight table lookups per eight bytes, independent of each other.
    while (n >= 8) {
        const unsigned a = (p[0] ^ crc) & 0xFFU;
        const unsigned b = (p[1] ^ (crc >> 8)) & 0xFFU;
        crc = static_cast<std::uint16_t>(t[7][a] ^ t[6][b] ^ t[5][p[2]] ^ t[4][p[3]] ^ t[3][p[4]] ^ t[2][p[5]] ^
                                         t[1][p[6]] ^ t[0][p[7]]);
        p += 8;
        n -= 8;
    }
    while (n--) crc = static_cast<std::uint16_t>((crc >> 8) ^ t[0][(crc ^ *p++) & 0xFFU]);
    return crc;
}

/// CRC-16/MODBUS of a whole buffer. check("123456789") == 0x4B37.
constexpr std::uint16_t crc16(std::span<const std::uint8_t> data) noexcept { return crc16_update(crc16_init, data); }

/// The textbook bit-at-a-time CRC: the reference the fast one is tested and benchmarked against.
constexpr std::uint16_t crc16_bitwise(std::span<const std::uint8_t> data) noexcept {
    std::uint16_t crc = crc16_init;
    for (std::uint8_t byte : data) {
        crc ^= byte;
        for (int k = 0; k < 8; ++k) {
            if (crc & 1U)
                crc = static_cast<std::uint16_t>((crc >> 1) ^ 0xA001U);
            else
                crc = static_cast<std::uint16_t>(crc >> 1);
        }
    }
    return crc;
}

/// Incremental CRC for data that arrives in pieces.
class crc16_accumulator {
public:
    constexpr void update(std::span<const std::uint8_t> data) noexcept { crc_ = crc16_update(crc_, data); }
    constexpr std::uint16_t value() const noexcept { return crc_; }
    constexpr void reset() noexcept { crc_ = crc16_init; }

private:
    std::uint16_t crc_ = crc16_init;
};

static_assert(crc16_bitwise(std::array<std::uint8_t, 9>{'1', '2', '3', '4', '5', '6', '7', '8', '9'}) == 0x4B37);
static_assert(crc16(std::array<std::uint8_t, 9>{'1', '2', '3', '4', '5', '6', '7', '8', '9'}) == 0x4B37);

} // namespace relaylink::modbus
