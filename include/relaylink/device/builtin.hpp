// The built-in meter profiles, and a registry that finds a profile by name or alias.
//  - eastron_sdm320c: Eastron SDM320C behind a Milesight UC100 in Active pass-through. The relay is
//    coil 0 (FC05: 0xFF00 closes = on, 0x0000 opens = off); the UC100 forwards the meter's raw RTU
//    reply as an uplink on the pass-through fPort (5 unless configured otherwise).
//  - ivy_em114039: IVY EM114039 with LoRaWAN on board, fPort 10; relay through FC10 to register 167
//    (two registers, 0xFFFFFFFF = break = off, 0 = close = on).
#pragma once

#include <relaylink/device/profile.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace relaylink::device {

inline profile eastron_sdm320c(std::uint8_t passthrough_fport = 5) {
    using modbus::function_code;
    profile p;
    p.name = "eastron_sdm320c";
    p.aliases = {"eastron_sdm", "sdm320c"};
    p.description = "Eastron SDM320C behind a Milesight UC100 LoRaWAN-to-RS485 bridge (Active pass-through)";
    p.fport = passthrough_fport;
    p.reply_fport = passthrough_fport;
    p.slave = 1;
    p.confirmed = true;
    p.completion = evidence::device_replied;
    p.uplink_interval = std::chrono::seconds{1200};
    p.relay_off = {function_code::write_single_coil, 0, {modbus::coil_off}};
    p.relay_on = {function_code::write_single_coil, 0, {modbus::coil_on}};
    // Read-back is off by default: which register reports the SDM320C relay is not documented
    // (FC01 coil 0 is the likely candidate; enable it through a JSON profile once verified).
    const auto in = function_code::read_input_registers;
    p.measurements = {
        {"voltage", "V", in, 0x0000, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"current", "A", in, 0x0006, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"active_power", "W", in, 0x000C, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"apparent_power", "VA", in, 0x0012, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"reactive_power", "VAr", in, 0x0018, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"power_factor", "", in, 0x001E, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"frequency", "Hz", in, 0x0046, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"import_energy", "kWh", in, 0x0048, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"export_energy", "kWh", in, 0x004A, value_type::float32, modbus::word_order::high_word_first, 1.0},
        {"total_energy", "kWh", in, 0x0156, value_type::float32, modbus::word_order::high_word_first, 1.0},
    };
    return p;
}

inline profile ivy_em114039() {
    using modbus::function_code;
    profile p;
    p.name = "ivy_em114039";
    p.aliases = {"ivy_em114", "em114039"};
    p.description = "IVY EM114039 electricity meter with LoRaWAN on board";
    p.fport = 10;
    // The IVY's reply uplink is not documented; relaylink listens for a raw RTU reply on fPort 10 and
    // completes on the LoRaWAN acknowledgement, which a confirmed downlink always yields.
    p.reply_fport = 10;
    p.slave = 1;
    p.confirmed = true;
    p.completion = evidence::device_acknowledged;
    p.uplink_interval = std::chrono::seconds{900};
    p.relay_off = {function_code::write_multiple_registers, 167, {0xFFFF, 0xFFFF}};
    p.relay_on = {function_code::write_multiple_registers, 167, {0x0000, 0x0000}};
    return p;
}

/// The built-in profiles, in a fixed order.
inline std::vector<profile> builtin_profiles() { return {eastron_sdm320c(), ivy_em114039()}; }

/// Profiles by name or alias. Starts with the built-ins; more are added from JSON.
class profile_registry {
public:
    static profile_registry with_builtins() {
        profile_registry r;
        for (auto& p : builtin_profiles()) r.profiles_.push_back(std::move(p));
        return r;
    }

    /// Add a profile, replacing one of the same name. A name or alias already used by *another*
    /// profile is refused (false), so a lookup is never ambiguous.
    bool add(profile p) {
        for (const auto& other : profiles_) {
            if (other.name == p.name) continue;
            if (other.answers_to(p.name)) return false;
            for (const auto& a : p.aliases)
                if (other.answers_to(a)) return false;
        }
        auto it = std::find_if(profiles_.begin(), profiles_.end(), [&](const profile& o) { return o.name == p.name; });
        if (it != profiles_.end())
            *it = std::move(p);
        else
            profiles_.push_back(std::move(p));
        return true;
    }

    const profile* find(std::string_view name_or_alias) const noexcept {
        for (const auto& p : profiles_)
            if (p.answers_to(name_or_alias)) return &p;
        return nullptr;
    }

    /// "eastron_sdm320c (eastron_sdm, sdm320c), ivy_em114039 (…)": for error messages.
    std::string describe_names() const {
        std::string out;
        for (const auto& p : profiles_) {
            if (!out.empty()) out += ", ";
            out += p.name;
            if (!p.aliases.empty()) {
                out += " (";
                for (std::size_t i = 0; i < p.aliases.size(); ++i) out += (i ? ", " : "") + p.aliases[i];
                out += ")";
            }
        }
        return out;
    }

    const std::vector<profile>& all() const noexcept { return profiles_; }

private:
    std::vector<profile> profiles_;
};

} // namespace relaylink::device
