// A meter profile: how to turn an intent (relay off/on, read the relay state, read a measurement)
// into a LoRaWAN downlink, and how to recognise the device's reply in an uplink. Profiles are data:
// the built-in ones are defined in builtin.hpp, others load from JSON (profile_json.hpp).
#pragma once

#include <relaylink/evidence.hpp>
#include <relaylink/modbus.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relaylink::device {

enum class intent : std::uint8_t { relay_off, relay_on, read_relay_state, read_measurement };

constexpr std::string_view to_string(intent i) noexcept {
    switch (i) {
    case intent::relay_off: return "relay_off";
    case intent::relay_on: return "relay_on";
    case intent::read_relay_state: return "read_relay_state";
    case intent::read_measurement: return "read_measurement";
    }
    return "unknown";
}

enum class value_type : std::uint8_t { u16, u32, i32, float32 };

constexpr std::string_view to_string(value_type t) noexcept {
    switch (t) {
    case value_type::u16: return "u16";
    case value_type::u32: return "u32";
    case value_type::i32: return "i32";
    case value_type::float32: return "float32";
    }
    return "unknown";
}
constexpr std::optional<value_type> value_type_from_name(std::string_view s) noexcept {
    for (auto t : {value_type::u16, value_type::u32, value_type::i32, value_type::float32})
        if (to_string(t) == s) return t;
    return std::nullopt;
}
constexpr std::uint16_t register_count(value_type t) noexcept { return t == value_type::u16 ? 1 : 2; }

/// A quantity the meter can be asked for ("voltage", 230.1 V): a register read and how to read it.
struct measurement {
    std::string name;
    std::string unit;
    modbus::function_code function = modbus::function_code::read_input_registers;
    std::uint16_t address = 0;
    value_type type = value_type::float32;
    modbus::word_order order = modbus::word_order::high_word_first;
    double scale = 1.0; ///< the decoded value is multiplied by this

    friend bool operator==(const measurement&, const measurement&) = default;
};

/// How to read the relay back: a read whose values equal `on` or `off` tell the state.
struct relay_state_read {
    modbus::function_code function = modbus::function_code::read_coils;
    std::uint16_t address = 0;
    std::uint16_t quantity = 1;
    std::vector<std::uint16_t> on;
    std::vector<std::uint16_t> off;

    friend bool operator==(const relay_state_read&, const relay_state_read&) = default;
};

/// A write to send: function, address and values (see modbus::request::values). The slave comes
/// from the profile.
struct write_spec {
    modbus::function_code function = modbus::function_code::write_single_coil;
    std::uint16_t address = 0;
    std::vector<std::uint16_t> values;

    friend bool operator==(const write_spec&, const write_spec&) = default;
};

/// What to enqueue: the fPort, confirmed or not, and the Modbus RTU frame.
struct downlink {
    std::uint8_t fport = 0;
    bool confirmed = false;
    modbus::frame payload;

    friend bool operator==(const downlink&, const downlink&) = default;
};

enum class reply_kind : std::uint8_t {
    unrelated, ///< not the reply to this request (other fPort, other frame, bad CRC…)
    reply,     ///< the device's normal reply: for writes, the echo
    exception, ///< the device refused: a Modbus exception reply
};

struct reply_match {
    reply_kind kind = reply_kind::unrelated;
    modbus::response response; ///< set for reply and exception
    error_code reason;         ///< why unrelated (a modbus::errc), or the exception as an error

    explicit operator bool() const noexcept { return kind != reply_kind::unrelated; }
};

inline constexpr std::uint8_t min_fport = 1;
inline constexpr std::uint8_t max_fport = 223; // 224 is LoRaWAN's test port; 225-255 are reserved

struct profile {
    std::string name;                 ///< "eastron_sdm320c": lower case, digits and '_'
    std::vector<std::string> aliases; ///< other names it answers to ("eastron_sdm", the portal's device_type)
    std::string description;
    std::uint8_t fport = 5;                 ///< downlink fPort (1-223)
    std::optional<std::uint8_t> reply_fport; ///< where the device's reply arrives; none: no reply expected
    std::uint8_t slave = 1;                  ///< Modbus slave address (1-247)
    bool confirmed = true;                   ///< send as confirmed LoRaWAN downlinks
    evidence completion = evidence::device_replied; ///< the evidence that completes a command
    std::chrono::seconds uplink_interval{1200};     ///< the device's expected uplink interval
    write_spec relay_off;
    write_spec relay_on;
    std::optional<relay_state_read> relay_state;
    std::vector<measurement> measurements;

    friend bool operator==(const profile&, const profile&) = default;

    /// The Modbus request for relay off or on.
    modbus::request relay_request(bool on) const {
        const write_spec& w = on ? relay_on : relay_off;
        modbus::request r;
        r.slave = slave;
        r.function = w.function;
        r.address = w.address;
        r.quantity = static_cast<std::uint16_t>(w.values.size());
        r.values = w.values;
        return r;
    }

    /// The downlink that switches the relay off or on.
    result<downlink> relay(bool on) const {
        const write_spec& w = on ? relay_on : relay_off;
        result<modbus::frame> f = w.function == modbus::function_code::write_single_coil && w.values.size() == 1
                                      ? modbus::write_single_coil_value(slave, w.address, w.values[0])
                                      : modbus::encode(relay_request(on));
        if (!f) return f.error();
        return downlink{fport, confirmed, *f};
    }

    /// The downlink that reads the relay state back (profile must have `relay_state`).
    result<downlink> read_relay_state() const {
        if (!relay_state) return make_error_code(modbus::errc::unsupported_function);
        modbus::request r{slave, relay_state->function, relay_state->address, relay_state->quantity, {}};
        auto f = modbus::encode(r);
        if (!f) return f.error();
        return downlink{fport, confirmed, *f};
    }

    const measurement* find_measurement(std::string_view n) const noexcept {
        for (const auto& m : measurements)
            if (m.name == n) return &m;
        return nullptr;
    }

    /// The downlink that reads one measurement.
    result<downlink> read(const measurement& m) const {
        auto f = modbus::encode(modbus::request{slave, m.function, m.address, register_count(m.type), {}});
        if (!f) return f.error();
        return downlink{fport, confirmed, *f};
    }

    /// Decide whether an uplink (its fPort and raw bytes) is the device's reply to `sent`.
    reply_match match_reply(std::span<const std::uint8_t> sent, std::uint8_t uplink_fport,
                            std::span<const std::uint8_t> data) const {
        reply_match m;
        if (!reply_fport || uplink_fport != *reply_fport) {
            m.reason = make_error_code(modbus::errc::unexpected_function);
            return m;
        }
        auto r = modbus::decode_response(sent, data);
        if (!r) {
            m.reason = r.error();
            return m;
        }
        m.response = std::move(*r);
        if (m.response.exception) {
            m.kind = reply_kind::exception;
            m.reason = m.response.exception_error();
        } else {
            m.kind = reply_kind::reply;
        }
        return m;
    }

    /// The relay state a read-back reply shows: true = on (closed), false = off, nothing = neither.
    std::optional<bool> relay_state_from(const modbus::response& r) const {
        if (!relay_state || !r.ok()) return std::nullopt;
        if (r.values == relay_state->on) return true;
        if (r.values == relay_state->off) return false;
        return std::nullopt;
    }

    /// The value of a measurement from its read reply, scaled.
    static result<double> value_of(const measurement& m, const modbus::response& r) {
        if (!r.ok()) return r.exception_error();
        if (r.values.size() < register_count(m.type)) return make_error_code(modbus::errc::truncated);
        const std::uint16_t a = r.values[0], b = m.type == value_type::u16 ? 0 : r.values[1];
        switch (m.type) {
        case value_type::u16: return a * m.scale;
        case value_type::u32: return modbus::to_u32(a, b, m.order) * m.scale;
        case value_type::i32: return modbus::to_i32(a, b, m.order) * m.scale;
        case value_type::float32: return static_cast<double>(modbus::to_float32(a, b, m.order)) * m.scale;
        }
        return make_error_code(modbus::errc::unsupported_function);
    }

    /// Whether a raw frame sent to this device may switch its relay off, for the safety guard. Only a
    /// frame that is provably harmless is false: a Modbus read, the profile's own relay-on frame, or a
    /// write to this slave that touches none of the relay's coils or registers. Everything else —
    /// the relay-off frame, another write to the relay's address, a write to another slave or the
    /// broadcast address on the bridge's bus, a frame that is not Modbus RTU — is guarded as a
    /// disconnect. A profile without a relay-off write has no relay to guard.
    bool may_switch_off(std::span<const std::uint8_t> payload) const {
        if (relay_off.values.empty()) return false;
        auto r = modbus::parse_request(payload);
        if (!r) return true; // not a frame we can read: it may be anything
        if (modbus::is_read(r->function)) return false;
        if (r->slave != slave) return true;
        if (*r == relay_request(true)) return false;
        auto space = [](modbus::function_code f) {
            return f == modbus::function_code::write_single_coil || f == modbus::function_code::write_multiple_coils ? 0 : 1;
        };
        if (space(r->function) != space(relay_off.function)) return false;
        const std::size_t from = r->address, to = from + r->quantity;
        const std::size_t relay_from = relay_off.address, relay_to = relay_from + relay_off.values.size();
        return from < relay_to && relay_from < to;
    }

    bool answers_to(std::string_view n) const noexcept {
        if (name == n) return true;
        for (const auto& a : aliases)
            if (a == n) return true;
        return false;
    }
};

} // namespace relaylink::device
