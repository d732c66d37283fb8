// The Modbus function codes relaylink encodes and decodes, with their names and protocol limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace relaylink::modbus {

enum class function_code : std::uint8_t {
    read_coils = 0x01,
    read_discrete_inputs = 0x02,
    read_holding_registers = 0x03,
    read_input_registers = 0x04,
    write_single_coil = 0x05,
    write_single_register = 0x06,
    write_multiple_coils = 0x0F,
    write_multiple_registers = 0x10,
};

inline constexpr std::uint8_t max_slave = 247;
inline constexpr std::uint8_t broadcast_slave = 0;
inline constexpr std::uint16_t max_read_bits = 2000;
inline constexpr std::uint16_t max_read_registers = 125;
inline constexpr std::uint16_t max_write_bits = 1968;
inline constexpr std::uint16_t max_write_registers = 123;
inline constexpr std::size_t max_adu_size = 256;
inline constexpr std::uint16_t coil_on = 0xFF00;
inline constexpr std::uint16_t coil_off = 0x0000;

constexpr std::string_view to_string(function_code f) noexcept {
    switch (f) {
    case function_code::read_coils: return "read_coils";
    case function_code::read_discrete_inputs: return "read_discrete_inputs";
    case function_code::read_holding_registers: return "read_holding_registers";
    case function_code::read_input_registers: return "read_input_registers";
    case function_code::write_single_coil: return "write_single_coil";
    case function_code::write_single_register: return "write_single_register";
    case function_code::write_multiple_coils: return "write_multiple_coils";
    case function_code::write_multiple_registers: return "write_multiple_registers";
    }
    return "unknown_function";
}

/// The function for a raw code, or nothing when relaylink does not support it.
constexpr std::optional<function_code> to_function_code(std::uint8_t raw) noexcept {
    switch (raw) {
    case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x06: case 0x0F: case 0x10:
        return static_cast<function_code>(raw);
    default: return std::nullopt;
    }
}

/// The function for its name ("write_single_coil"), or nothing.
constexpr std::optional<function_code> function_code_from_name(std::string_view name) noexcept {
    for (int raw : {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10}) {
        auto f = static_cast<function_code>(raw);
        if (to_string(f) == name) return f;
    }
    return std::nullopt;
}

constexpr bool is_read(function_code f) noexcept { return static_cast<std::uint8_t>(f) <= 0x04; }
constexpr bool is_bit_function(function_code f) noexcept {
    return f == function_code::read_coils || f == function_code::read_discrete_inputs ||
           f == function_code::write_single_coil || f == function_code::write_multiple_coils;
}

} // namespace relaylink::modbus
