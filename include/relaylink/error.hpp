// Errors shared by every layer of relaylink that are not tied to one protocol: bad text encodings
// (hex, base64) and bad identifiers (DevEUI).
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace relaylink {

using boost::system::error_code;
template <class T>
using result = boost::system::result<T, error_code>;

/// Why a document from outside (a profile, an event, a configuration) was refused: the field's path
/// ("relay_off.function", "rxInfo[0].rssi") and a full message a person can act on.
struct field_error {
    std::string field;
    std::string message;
};

/// A configuration refused when an object is made: std::invalid_argument with the setting it is about
/// (`field()`: "url", "headers", "api_key", "CHIRPSTACK_PASSTHROUGH_PORT"…), so a caller (the Python module's
/// ConfigError.field) names it without reading the message.
class config_error : public std::invalid_argument {
public:
    config_error(std::string field, const std::string& message) : std::invalid_argument(message), field_(std::move(field)) {}
    explicit config_error(const field_error& e) : config_error(e.field, e.message) {}
    const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

/// Lets result<T, field_error>::value() throw config_error (a std::invalid_argument) with the message.
[[noreturn]] inline void throw_exception_from_error(const field_error& e, const boost::source_location&) {
    throw config_error(e);
}

enum class errc {
    invalid_hex = 1,  ///< a character that is not a hex digit
    odd_hex_length,   ///< hex text with an odd number of digits
    invalid_base64,   ///< text that is not valid base64
    invalid_dev_eui,  ///< a DevEUI that is not 16 hex digits
};

class error_category_impl final : public boost::system::error_category {
public:
    constexpr error_category_impl() noexcept : boost::system::error_category(0x7e1a'1111'0000'0001ULL) {}
    const char* name() const noexcept override { return "relaylink"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_hex: return "not a hex digit (expected 0-9, a-f, A-F)";
        case errc::odd_hex_length: return "hex text has an odd number of digits";
        case errc::invalid_base64: return "not valid base64";
        case errc::invalid_dev_eui: return "DevEUI must be exactly 16 hex digits";
        }
        return "unknown relaylink error";
    }
};

inline const boost::system::error_category& error_category() noexcept {
    static constexpr error_category_impl instance;
    return instance;
}
inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

} // namespace relaylink

template <>
struct boost::system::is_error_code_enum<relaylink::errc> : std::true_type {};
