// Decoding a Modbus RTU reply against the request it answers: length, CRC, slave, function, byte
// count and write echo are all checked. A device's refusal (function | 0x80) decodes successfully
// into a response whose `exception` is set; anything malformed is a precise error. Never reads out
// of bounds, whatever it is fed.
#pragma once

#include <relaylink/modbus/exception.hpp>
#include <relaylink/modbus/request.hpp>

#include <optional>
#include <span>
#include <vector>

namespace relaylink::modbus {

struct response {
    std::uint8_t slave = 0;
    function_code function = function_code::read_holding_registers;
    /// Set when the device answered with an exception; the other fields then carry the request's.
    std::optional<exception_code> exception;
    std::uint16_t address = 0;  ///< the request's address (echoed by write replies)
    std::uint16_t quantity = 0; ///< bits or registers read or written
    /// Reads: registers (03, 04) or one 0/1 per bit (01, 02). 05: the coil value echoed (0xFF00 / 0);
    /// 06: the register value echoed; 0F and 10 echo only address and quantity, so this is empty.
    std::vector<std::uint16_t> values;

    bool ok() const noexcept { return !exception; }
    /// The exception as an error_code in modbus::exception_category(), or a clear error_code.
    error_code exception_error() const noexcept { return exception ? make_error_code(*exception) : error_code{}; }

    friend bool operator==(const response&, const response&) = default;
};

/// The frame length a reply to `req` will have (for a normal reply, not an exception).
inline std::size_t expected_reply_size(const request& req) noexcept {
    switch (req.function) {
    case function_code::read_coils:
    case function_code::read_discrete_inputs: return 5 + (req.quantity + 7U) / 8U;
    case function_code::read_holding_registers:
    case function_code::read_input_registers: return 5 + 2U * req.quantity;
    default: return 8;
    }
}

inline result<response> decode_response(const request& req, std::span<const std::uint8_t> adu) {
    if (req.slave == broadcast_slave) return make_error_code(errc::no_reply_expected);
    if (adu.size() > max_adu_size) return make_error_code(errc::frame_too_long);
    if (adu.size() < 2) return make_error_code(errc::truncated);

    const auto fc = static_cast<std::uint8_t>(req.function);
    const std::uint8_t got_fc = adu[1];
    std::size_t expected;
    if (got_fc == (fc | 0x80U)) {
        expected = 5;
    } else if (got_fc == fc && is_read(req.function)) {
        if (adu.size() < 3) return make_error_code(errc::truncated);
        expected = 5 + std::size_t{adu[2]}; // the reply's own byte count decides its length
    } else if (got_fc == fc) {
        expected = 8;
    } else {
        // Another function: its length is unknown, so judge the whole input's CRC first.
        if (adu.size() < 4) return make_error_code(errc::truncated);
        if (!crc_ok(adu)) return make_error_code(errc::crc_mismatch);
        return make_error_code(adu[0] != req.slave ? errc::wrong_slave : errc::unexpected_function);
    }
    if (adu.size() < expected) return make_error_code(errc::truncated);
    if (adu.size() > expected) return make_error_code(errc::trailing_bytes);
    if (!crc_ok(adu)) return make_error_code(errc::crc_mismatch);
    if (adu[0] != req.slave) return make_error_code(errc::wrong_slave);

    response r;
    r.slave = adu[0];
    r.function = req.function;
    r.address = req.address;
    r.quantity = req.quantity;
    if (got_fc != fc) {
        auto code = to_exception_code(adu[2]);
        if (!code) return make_error_code(errc::invalid_exception_code);
        r.exception = code;
        return r;
    }
    switch (req.function) {
    case function_code::read_coils:
    case function_code::read_discrete_inputs: {
        if (adu[2] != (req.quantity + 7U) / 8U) return make_error_code(errc::byte_count_mismatch);
        r.values.reserve(req.quantity);
        for (std::size_t i = 0; i < req.quantity; ++i) r.values.push_back((adu[3 + i / 8] >> (i % 8)) & 1U);
        return r;
    }
    case function_code::read_holding_registers:
    case function_code::read_input_registers: {
        if (adu[2] != 2U * req.quantity) return make_error_code(errc::byte_count_mismatch);
        r.values.reserve(req.quantity);
        for (std::size_t i = 0; i < req.quantity; ++i) r.values.push_back(get_u16(adu, 3 + 2 * i));
        return r;
    }
    case function_code::write_single_coil:
    case function_code::write_single_register: {
        const std::uint16_t value = req.values.empty() ? 0 : req.values[0];
        if (get_u16(adu, 2) != req.address || get_u16(adu, 4) != value) return make_error_code(errc::echo_mismatch);
        r.values.push_back(value);
        return r;
    }
    case function_code::write_multiple_coils:
    case function_code::write_multiple_registers:
        if (get_u16(adu, 2) != req.address || get_u16(adu, 4) != req.quantity)
            return make_error_code(errc::echo_mismatch);
        return r;
    }
    return make_error_code(errc::unsupported_function);
}

/// Decode a reply given the request frame that was sent; invalid_request if that frame is not valid.
inline result<response> decode_response(std::span<const std::uint8_t> request_adu, std::span<const std::uint8_t> adu) {
    auto req = parse_request(request_adu);
    if (!req) return make_error_code(errc::invalid_request);
    return decode_response(*req, adu);
}

/// Encode the normal reply a device would send to `req` (used by simulators and tests).
/// `values`: reads — the registers or 0/1 bits to return; writes — ignored (the reply is the echo).
inline result<frame> encode_response(const request& req, std::span<const std::uint16_t> values = {}) {
    frame fr;
    fr.push(req.slave);
    fr.push(static_cast<std::uint8_t>(req.function));
    switch (req.function) {
    case function_code::read_coils:
    case function_code::read_discrete_inputs: {
        if (values.size() != req.quantity || req.quantity > max_read_bits) return make_error_code(errc::invalid_quantity);
        const auto byte_count = static_cast<std::uint8_t>((req.quantity + 7) / 8);
        fr.push(byte_count);
        for (std::size_t byte = 0; byte < byte_count; ++byte) {
            std::uint8_t packed = 0;
            for (std::size_t bit = 0; bit < 8 && byte * 8 + bit < values.size(); ++bit)
                if (values[byte * 8 + bit]) packed = static_cast<std::uint8_t>(packed | (1U << bit));
            fr.push(packed);
        }
        break;
    }
    case function_code::read_holding_registers:
    case function_code::read_input_registers:
        if (values.size() != req.quantity || req.quantity > max_read_registers) return make_error_code(errc::invalid_quantity);
        fr.push(static_cast<std::uint8_t>(2 * values.size()));
        for (std::uint16_t v : values) fr.push_u16(v);
        break;
    case function_code::write_single_coil:
    case function_code::write_single_register:
        fr.push_u16(req.address);
        fr.push_u16(req.values.empty() ? 0 : req.values[0]);
        break;
    case function_code::write_multiple_coils:
    case function_code::write_multiple_registers:
        fr.push_u16(req.address);
        fr.push_u16(req.quantity);
        break;
    }
    fr.seal();
    return fr;
}

/// Encode an exception reply (function | 0x80, code).
inline frame encode_exception(std::uint8_t slave, function_code function, exception_code code) {
    frame fr;
    fr.push(slave);
    fr.push(static_cast<std::uint8_t>(static_cast<std::uint8_t>(function) | 0x80U));
    fr.push(static_cast<std::uint8_t>(code));
    fr.seal();
    return fr;
}

} // namespace relaylink::modbus
