// Modbus exception codes (the device understood the request and refused it), each mapped one-to-one
// to an error value in its own category, as libmodbus does, so a refusal travels as an error_code.
#pragma once

#include <relaylink/modbus/error.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace relaylink::modbus {

enum class exception_code : std::uint8_t {
    illegal_function = 0x01,
    illegal_data_address = 0x02,
    illegal_data_value = 0x03,
    server_device_failure = 0x04,
    acknowledge = 0x05,
    server_device_busy = 0x06,
    negative_acknowledge = 0x07,
    memory_parity_error = 0x08,
    gateway_path_unavailable = 0x0A,
    gateway_target_failed_to_respond = 0x0B,
};

/// The exception's name as the Modbus specification spells it in snake_case ("illegal_data_address").
constexpr std::string_view to_string(exception_code c) noexcept {
    switch (c) {
    case exception_code::illegal_function: return "illegal_function";
    case exception_code::illegal_data_address: return "illegal_data_address";
    case exception_code::illegal_data_value: return "illegal_data_value";
    case exception_code::server_device_failure: return "server_device_failure";
    case exception_code::acknowledge: return "acknowledge";
    case exception_code::server_device_busy: return "server_device_busy";
    case exception_code::negative_acknowledge: return "negative_acknowledge";
    case exception_code::memory_parity_error: return "memory_parity_error";
    case exception_code::gateway_path_unavailable: return "gateway_path_unavailable";
    case exception_code::gateway_target_failed_to_respond: return "gateway_target_failed_to_respond";
    }
    return "unknown_exception";
}

/// The exception code for a raw byte, or nothing when the byte is not a defined code.
constexpr std::optional<exception_code> to_exception_code(std::uint8_t raw) noexcept {
    if ((raw >= 0x01 && raw <= 0x08) || raw == 0x0A || raw == 0x0B) return static_cast<exception_code>(raw);
    return std::nullopt;
}

class exception_category_impl final : public boost::system::error_category {
public:
    constexpr exception_category_impl() noexcept : boost::system::error_category(0x7e1a'1111'0001'0002ULL) {}
    const char* name() const noexcept override { return "relaylink.modbus.exception"; }
    std::string message(int ev) const override {
        switch (static_cast<exception_code>(ev)) {
        case exception_code::illegal_function: return "Modbus exception 01 illegal_function: the device does not support this function";
        case exception_code::illegal_data_address: return "Modbus exception 02 illegal_data_address: the device has no such coil or register";
        case exception_code::illegal_data_value: return "Modbus exception 03 illegal_data_value: the device refused the value";
        case exception_code::server_device_failure: return "Modbus exception 04 server_device_failure: the device failed while executing";
        case exception_code::acknowledge: return "Modbus exception 05 acknowledge: accepted, still processing";
        case exception_code::server_device_busy: return "Modbus exception 06 server_device_busy: the device is busy";
        case exception_code::negative_acknowledge: return "Modbus exception 07 negative_acknowledge: the device cannot perform the function";
        case exception_code::memory_parity_error: return "Modbus exception 08 memory_parity_error: the device found a memory parity error";
        case exception_code::gateway_path_unavailable: return "Modbus exception 0A gateway_path_unavailable";
        case exception_code::gateway_target_failed_to_respond: return "Modbus exception 0B gateway_target_failed_to_respond: the meter did not answer the gateway";
        }
        return "unknown Modbus exception";
    }
};

inline const boost::system::error_category& exception_category() noexcept {
    static constexpr exception_category_impl instance;
    return instance;
}

inline error_code make_error_code(exception_code e) noexcept { return {static_cast<int>(e), exception_category()}; }

} // namespace relaylink::modbus

template <>
struct boost::system::is_error_code_enum<relaylink::modbus::exception_code> : std::true_type {};
