// Register value helpers: 16-bit registers to u16/u32/i32/float32 and back, in either word order.
// Eastron meters send 32-bit values high word first ("big-endian"); some devices swap the words.
#pragma once

#include <relaylink/modbus/error.hpp>

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace relaylink::modbus {

enum class word_order : std::uint8_t {
    high_word_first, ///< ABCD: register n holds the high 16 bits (Eastron, most meters)
    low_word_first,  ///< CDAB: register n holds the low 16 bits
};

constexpr std::string_view to_string(word_order w) noexcept {
    return w == word_order::high_word_first ? "high_word_first" : "low_word_first";
}
constexpr std::optional<word_order> word_order_from_name(std::string_view s) noexcept {
    if (s == "high_word_first") return word_order::high_word_first;
    if (s == "low_word_first") return word_order::low_word_first;
    return std::nullopt;
}

constexpr std::uint32_t to_u32(std::uint16_t first, std::uint16_t second, word_order order = word_order::high_word_first) noexcept {
    return order == word_order::high_word_first ? (std::uint32_t{first} << 16) | second
                                                : (std::uint32_t{second} << 16) | first;
}
constexpr std::int32_t to_i32(std::uint16_t first, std::uint16_t second, word_order order = word_order::high_word_first) noexcept {
    return std::bit_cast<std::int32_t>(to_u32(first, second, order));
}
constexpr float to_float32(std::uint16_t first, std::uint16_t second, word_order order = word_order::high_word_first) noexcept {
    return std::bit_cast<float>(to_u32(first, second, order));
}

/// From a register span; truncated when fewer than two registers are given.
inline result<std::uint32_t> to_u32(std::span<const std::uint16_t> regs, word_order order = word_order::high_word_first) {
    if (regs.size() < 2) return make_error_code(errc::truncated);
    return to_u32(regs[0], regs[1], order);
}
inline result<std::int32_t> to_i32(std::span<const std::uint16_t> regs, word_order order = word_order::high_word_first) {
    if (regs.size() < 2) return make_error_code(errc::truncated);
    return to_i32(regs[0], regs[1], order);
}
inline result<float> to_float32(std::span<const std::uint16_t> regs, word_order order = word_order::high_word_first) {
    if (regs.size() < 2) return make_error_code(errc::truncated);
    return to_float32(regs[0], regs[1], order);
}

constexpr std::array<std::uint16_t, 2> from_u32(std::uint32_t v, word_order order = word_order::high_word_first) noexcept {
    const auto hi = static_cast<std::uint16_t>(v >> 16), lo = static_cast<std::uint16_t>(v & 0xFFFFU);
    return order == word_order::high_word_first ? std::array<std::uint16_t, 2>{hi, lo} : std::array<std::uint16_t, 2>{lo, hi};
}
constexpr std::array<std::uint16_t, 2> from_i32(std::int32_t v, word_order order = word_order::high_word_first) noexcept {
    return from_u32(std::bit_cast<std::uint32_t>(v), order);
}
constexpr std::array<std::uint16_t, 2> from_float32(float v, word_order order = word_order::high_word_first) noexcept {
    return from_u32(std::bit_cast<std::uint32_t>(v), order);
}

static_assert(to_float32(0x4366, 0x0000) == 230.0f);
static_assert(to_float32(0x0000, 0x4366, word_order::low_word_first) == 230.0f);

} // namespace relaylink::modbus
