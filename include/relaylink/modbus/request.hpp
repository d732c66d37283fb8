// Modbus RTU requests: encoders that enforce the protocol's limits, and a parser for request frames
// (what a device, or relaylink's simulator, receives). Sans-I/O, no allocation when encoding.
#pragma once

#include <relaylink/modbus/frame.hpp>

#include <span>
#include <vector>

namespace relaylink::modbus {

/// A request, described. `values` holds, by function: 05 the coil value (0xFF00 / 0x0000),
/// 06 the register value, 0F one 0/1 per coil, 10 the registers; reads leave it empty.
struct request {
    std::uint8_t slave = 1;
    function_code function = function_code::read_holding_registers;
    std::uint16_t address = 0;
    std::uint16_t quantity = 1; ///< bits or registers read or written (1 for 05 and 06)
    std::vector<std::uint16_t> values;

    friend bool operator==(const request&, const request&) = default;
};

namespace detail {
constexpr error_code check_slave(std::uint8_t slave, bool is_write) noexcept {
    if (slave == broadcast_slave) return is_write ? error_code{} : make_error_code(errc::broadcast_read);
    if (slave > max_slave) return make_error_code(errc::invalid_slave);
    return {};
}
constexpr error_code check_range(std::uint16_t address, std::uint16_t quantity, std::uint16_t limit) noexcept {
    if (quantity == 0 || quantity > limit) return make_error_code(errc::invalid_quantity);
    if (static_cast<std::uint32_t>(address) + quantity > 0x10000U) return make_error_code(errc::address_overflow);
    return {};
}
constexpr std::uint16_t read_limit(function_code f) noexcept {
    return is_bit_function(f) ? max_read_bits : max_read_registers;
}
inline result<frame> encode_read(function_code f, std::uint8_t slave, std::uint16_t address, std::uint16_t quantity) {
    if (auto ec = check_slave(slave, false)) return ec;
    if (auto ec = check_range(address, quantity, read_limit(f))) return ec;
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(f));
    fr.push_u16(address);
    fr.push_u16(quantity);
    fr.seal();
    return fr;
}
} // namespace detail

inline result<frame> read_coils(std::uint8_t slave, std::uint16_t address, std::uint16_t quantity) {
    return detail::encode_read(function_code::read_coils, slave, address, quantity);
}
inline result<frame> read_discrete_inputs(std::uint8_t slave, std::uint16_t address, std::uint16_t quantity) {
    return detail::encode_read(function_code::read_discrete_inputs, slave, address, quantity);
}
inline result<frame> read_holding_registers(std::uint8_t slave, std::uint16_t address, std::uint16_t quantity) {
    return detail::encode_read(function_code::read_holding_registers, slave, address, quantity);
}
inline result<frame> read_input_registers(std::uint8_t slave, std::uint16_t address, std::uint16_t quantity) {
    return detail::encode_read(function_code::read_input_registers, slave, address, quantity);
}

/// FC05 with the raw value: only 0xFF00 (on) and 0x0000 (off) are valid.
inline result<frame> write_single_coil_value(std::uint8_t slave, std::uint16_t address, std::uint16_t value) {
    if (auto ec = detail::check_slave(slave, true)) return ec;
    if (value != coil_on && value != coil_off) return make_error_code(errc::invalid_coil_value);
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(function_code::write_single_coil));
    fr.push_u16(address);
    fr.push_u16(value);
    fr.seal();
    return fr;
}
inline result<frame> write_single_coil(std::uint8_t slave, std::uint16_t address, bool on) {
    return write_single_coil_value(slave, address, on ? coil_on : coil_off);
}
inline result<frame> write_single_register(std::uint8_t slave, std::uint16_t address, std::uint16_t value) {
    if (auto ec = detail::check_slave(slave, true)) return ec;
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(function_code::write_single_register));
    fr.push_u16(address);
    fr.push_u16(value);
    fr.seal();
    return fr;
}
/// FC0F; `coils` holds one value per coil, any non-zero value meaning on.
template <class Bit>
result<frame> write_multiple_coils(std::uint8_t slave, std::uint16_t address, std::span<const Bit> coils) {
    if (auto ec = detail::check_slave(slave, true)) return ec;
    if (coils.size() > max_write_bits) return make_error_code(errc::invalid_quantity);
    const auto quantity = static_cast<std::uint16_t>(coils.size());
    if (auto ec = detail::check_range(address, quantity, max_write_bits)) return ec;
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(function_code::write_multiple_coils));
    fr.push_u16(address);
    fr.push_u16(quantity);
    const auto byte_count = static_cast<std::uint8_t>((quantity + 7) / 8);
    fr.push(byte_count);
    for (std::size_t byte = 0; byte < byte_count; ++byte) {
        std::uint8_t packed = 0;
        for (std::size_t bit = 0; bit < 8 && byte * 8 + bit < quantity; ++bit)
            if (coils[byte * 8 + bit]) packed = static_cast<std::uint8_t>(packed | (1U << bit));
        fr.push(packed);
    }
    fr.seal();
    return fr;
}
inline result<frame> write_multiple_coils(std::uint8_t slave, std::uint16_t address, std::span<const bool> coils) {
    return write_multiple_coils<bool>(slave, address, coils);
}
inline result<frame> write_multiple_registers(std::uint8_t slave, std::uint16_t address,
                                              std::span<const std::uint16_t> registers) {
    if (auto ec = detail::check_slave(slave, true)) return ec;
    if (registers.size() > max_write_registers) return make_error_code(errc::invalid_quantity);
    const auto quantity = static_cast<std::uint16_t>(registers.size());
    if (auto ec = detail::check_range(address, quantity, max_write_registers)) return ec;
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(function_code::write_multiple_registers));
    fr.push_u16(address);
    fr.push_u16(quantity);
    fr.push(static_cast<std::uint8_t>(quantity * 2));
    for (std::uint16_t r : registers) fr.push_u16(r);
    fr.seal();
    return fr;
}

/// Encode a described request (dispatches on its function; `quantity` is taken from `values` for writes).
inline result<frame> encode(const request& r) {
    switch (r.function) {
    case function_code::read_coils:
    case function_code::read_discrete_inputs:
    case function_code::read_holding_registers:
    case function_code::read_input_registers:
        return detail::encode_read(r.function, r.slave, r.address, r.quantity);
    case function_code::write_single_coil:
        if (r.values.size() != 1) return make_error_code(errc::invalid_quantity);
        return write_single_coil_value(r.slave, r.address, r.values[0]);
    case function_code::write_single_register:
        if (r.values.size() != 1) return make_error_code(errc::invalid_quantity);
        return write_single_register(r.slave, r.address, r.values[0]);
    case function_code::write_multiple_coils:
        return write_multiple_coils<std::uint16_t>(r.slave, r.address, r.values);
    case function_code::write_multiple_registers:
        return write_multiple_registers(r.slave, r.address, r.values);
    }
    return make_error_code(errc::unsupported_function);
}

/// Parse a request frame (CRC, length, limits). The inverse of encode().
inline result<request> parse_request(std::span<const std::uint8_t> adu) {
    if (adu.size() > max_adu_size) return make_error_code(errc::frame_too_long);
    if (adu.size() < 4) return make_error_code(errc::truncated);
    const auto fn = to_function_code(adu[1]);
    // An unknown function has no known length: the whole input must carry a good CRC to say so.
    if (!fn) return make_error_code(crc_ok(adu) ? errc::unsupported_function : errc::crc_mismatch);
    std::size_t expected = 8;
    if (fn == function_code::write_multiple_coils || fn == function_code::write_multiple_registers) {
        if (adu.size() < 9) return make_error_code(errc::truncated);
        expected = 9 + std::size_t{adu[6]};
    }
    if (adu.size() < expected) return make_error_code(errc::truncated);
    if (adu.size() > expected) return make_error_code(errc::trailing_bytes);
    if (!crc_ok(adu)) return make_error_code(errc::crc_mismatch);

    request r;
    r.slave = adu[0];
    r.function = *fn;
    r.address = get_u16(adu, 2);
    const bool write = !is_read(*fn);
    if (auto ec = detail::check_slave(r.slave, write)) return ec;
    switch (*fn) {
    case function_code::write_single_coil:
    case function_code::write_single_register:
        r.quantity = 1;
        r.values.push_back(get_u16(adu, 4));
        if (*fn == function_code::write_single_coil && r.values[0] != coil_on && r.values[0] != coil_off)
            return make_error_code(errc::invalid_coil_value);
        return r;
    case function_code::write_multiple_coils: {
        r.quantity = get_u16(adu, 4);
        if (auto ec = detail::check_range(r.address, r.quantity, max_write_bits)) return ec;
        if (adu[6] != (r.quantity + 7) / 8) return make_error_code(errc::byte_count_mismatch);
        for (std::size_t i = 0; i < r.quantity; ++i) r.values.push_back((adu[7 + i / 8] >> (i % 8)) & 1U);
        return r;
    }
    case function_code::write_multiple_registers: {
        r.quantity = get_u16(adu, 4);
        if (auto ec = detail::check_range(r.address, r.quantity, max_write_registers)) return ec;
        if (adu[6] != r.quantity * 2) return make_error_code(errc::byte_count_mismatch);
        for (std::size_t i = 0; i < r.quantity; ++i) r.values.push_back(get_u16(adu, 7 + 2 * i));
        return r;
    }
    default: // reads
        r.quantity = get_u16(adu, 4);
        if (auto ec = detail::check_range(r.address, r.quantity, detail::read_limit(*fn))) return ec;
        return r;
    }
}

} // namespace relaylink::modbus
