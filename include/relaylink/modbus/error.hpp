// Errors of the Modbus RTU codec: why a request could not be encoded or a reply not decoded.
// A Modbus *exception* (the device understood and refused) is not one of these: see exception.hpp.
#pragma once

#include <relaylink/error.hpp>

namespace relaylink {
namespace modbus {

enum class errc {
    // encoding
    invalid_slave = 1,      ///< slave address not in 1..247 (0 = broadcast, writes only)
    broadcast_read,         ///< a read addressed to broadcast (0) can have no answer
    invalid_quantity,       ///< quantity of bits/registers outside the function's limit
    address_overflow,       ///< address + quantity runs past 65535
    invalid_coil_value,     ///< write single coil value other than 0xFF00 / 0x0000
    unsupported_function,   ///< function code relaylink does not encode or decode
    // decoding
    truncated,              ///< fewer bytes than the frame needs
    frame_too_long,         ///< more bytes than a Modbus RTU ADU may hold (256)
    trailing_bytes,         ///< bytes left over after a complete frame
    crc_mismatch,           ///< CRC-16/MODBUS does not match the frame
    wrong_slave,            ///< reply from another slave than the request addressed
    unexpected_function,    ///< reply's function code is not the request's (nor its exception)
    byte_count_mismatch,    ///< byte count field disagrees with the request or the frame length
    echo_mismatch,          ///< a write reply does not echo the request
    invalid_exception_code, ///< exception reply with a code outside 01-08, 0A, 0B
    no_reply_expected,      ///< a broadcast request has no reply to decode
    invalid_request,        ///< the request frame given to the decoder is itself not valid
};

class error_category_impl final : public boost::system::error_category {
public:
    constexpr error_category_impl() noexcept : boost::system::error_category(0x7e1a'1111'0001'0001ULL) {}
    const char* name() const noexcept override { return "relaylink.modbus"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_slave: return "slave address must be 1-247 (0 = broadcast, writes only)";
        case errc::broadcast_read: return "a read cannot be broadcast (slave 0): nobody would answer";
        case errc::invalid_quantity: return "quantity outside the function's limit (read <= 2000 bits / 125 registers, write <= 1968 bits / 123 registers, at least 1)";
        case errc::address_overflow: return "address + quantity runs past 65535";
        case errc::invalid_coil_value: return "write single coil value must be 0xFF00 (on) or 0x0000 (off)";
        case errc::unsupported_function: return "function code not supported (01 02 03 04 05 06 0F 10)";
        case errc::truncated: return "frame truncated: fewer bytes than it needs";
        case errc::frame_too_long: return "frame longer than a Modbus RTU ADU (256 bytes)";
        case errc::trailing_bytes: return "bytes left over after a complete frame";
        case errc::crc_mismatch: return "CRC-16/MODBUS mismatch";
        case errc::wrong_slave: return "reply comes from another slave than the request addressed";
        case errc::unexpected_function: return "reply's function code does not match the request";
        case errc::byte_count_mismatch: return "byte count does not match the request or the frame length";
        case errc::echo_mismatch: return "write reply does not echo the request";
        case errc::invalid_exception_code: return "exception reply carries an unknown exception code";
        case errc::no_reply_expected: return "a broadcast request gets no reply";
        case errc::invalid_request: return "the request frame is not a valid Modbus RTU request";
        }
        return "unknown relaylink.modbus error";
    }
};

inline const boost::system::error_category& error_category() noexcept {
    static constexpr error_category_impl instance;
    return instance;
}

inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

} // namespace modbus
} // namespace relaylink

template <>
struct boost::system::is_error_code_enum<relaylink::modbus::errc> : std::true_type {};
