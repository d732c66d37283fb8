// Profiles as data: a JSON document defines a meter type without C++. A bad document is refused
// with a message that names the field and the value ("profile 'acme': field 'fport' must be 1-223,
// got 0"). See docs/profiles.md for the format.
#pragma once

#include <relaylink/device/profile.hpp>

#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace relaylink::device {

/// Why a profile document was refused: the field's path ("relay_off.function") and a full message.
using profile_error = field_error;

template <class T>
using profile_result = boost::system::result<T, profile_error>;

namespace detail {

struct bad_field {
    std::string field;
    std::string what;
};

inline std::string show(const boost::json::value& v) {
    std::string s = boost::json::serialize(v);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

class reader {
public:
    reader(const boost::json::object& o, std::string path) : obj_(o), path_(std::move(path)) {}

    std::string field(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

    void only(std::initializer_list<std::string_view> known) const {
        for (const auto& kv : obj_) {
            bool ok = false;
            for (auto k : known) ok = ok || kv.key() == k;
            if (!ok) {
                std::string list;
                for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
                throw bad_field{field(kv.key()), "is not a known field (known: " + list + ")"};
            }
        }
    }

    const boost::json::value* get(std::string_view key) const {
        auto it = obj_.find(key);
        return it == obj_.end() ? nullptr : &it->value();
    }
    const boost::json::value& need(std::string_view key) const {
        if (auto* v = get(key)) return *v;
        throw bad_field{field(key), "is missing"};
    }

    std::string string(std::string_view key) const { return as_string(need(key), field(key)); }
    std::string string_or(std::string_view key, std::string def) const {
        auto* v = get(key);
        return v ? as_string(*v, field(key)) : def;
    }
    bool boolean_or(std::string_view key, bool def) const {
        auto* v = get(key);
        if (!v) return def;
        if (!v->is_bool()) throw bad_field{field(key), "must be true or false, got " + show(*v)};
        return v->get_bool();
    }
    std::uint64_t integer(std::string_view key, std::uint64_t lo, std::uint64_t hi) const {
        return as_integer(need(key), field(key), lo, hi);
    }
    std::uint64_t integer_or(std::string_view key, std::uint64_t def, std::uint64_t lo, std::uint64_t hi) const {
        auto* v = get(key);
        return v ? as_integer(*v, field(key), lo, hi) : def;
    }

    static std::string as_string(const boost::json::value& v, const std::string& f) {
        if (!v.is_string()) throw bad_field{f, "must be a string, got " + show(v)};
        return std::string(v.get_string());
    }
    /// An integer given as a JSON number or as a "0x…" hex string.
    static std::uint64_t as_integer(const boost::json::value& v, const std::string& f, std::uint64_t lo, std::uint64_t hi) {
        std::uint64_t n = 0;
        bool ok = false;
        if (v.is_uint64()) {
            n = v.get_uint64();
            ok = true;
        } else if (v.is_int64()) {
            ok = v.get_int64() >= 0;
            n = static_cast<std::uint64_t>(v.get_int64());
        } else if (v.is_string()) {
            std::string_view s = v.get_string();
            int base = 10;
            if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                s.remove_prefix(2);
                base = 16;
            }
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
            ok = ec == std::errc{} && p == s.data() + s.size() && !s.empty();
        }
        if (!ok || n < lo || n > hi)
            throw bad_field{f, "must be an integer " + std::to_string(lo) + "-" + std::to_string(hi) + " (a number or \"0x…\"), got " + show(v)};
        return n;
    }

private:
    const boost::json::object& obj_;
    std::string path_;
};

inline const boost::json::object& as_object(const boost::json::value& v, const std::string& f) {
    if (!v.is_object()) throw bad_field{f, "must be an object, got " + show(v)};
    return v.get_object();
}
inline const boost::json::array& as_array(const boost::json::value& v, const std::string& f) {
    if (!v.is_array()) throw bad_field{f, "must be an array, got " + show(v)};
    return v.get_array();
}

inline modbus::function_code read_function(const boost::json::value& v, const std::string& f) {
    std::optional<modbus::function_code> fc;
    if (v.is_string() && !v.get_string().starts_with("0x"))
        fc = modbus::function_code_from_name(v.get_string());
    else if (v.is_number() || v.is_string())
        fc = modbus::to_function_code(static_cast<std::uint8_t>(reader::as_integer(v, f, 0, 255)));
    if (!fc)
        throw bad_field{f, "must be a supported Modbus function (read_coils, read_discrete_inputs, read_holding_registers, "
                           "read_input_registers, write_single_coil, write_single_register, write_multiple_coils, "
                           "write_multiple_registers, or its number 1-6, 15, 16), got " + show(v)};
    return *fc;
}

inline std::vector<std::uint16_t> read_values(const boost::json::value& v, const std::string& f) {
    std::vector<std::uint16_t> out;
    const auto& arr = as_array(v, f);
    for (std::size_t i = 0; i < arr.size(); ++i)
        out.push_back(static_cast<std::uint16_t>(reader::as_integer(arr[i], f + "[" + std::to_string(i) + "]", 0, 0xFFFF)));
    return out;
}

inline write_spec read_write(const reader& parent, std::string_view key, std::uint8_t slave) {
    const std::string f = parent.field(key);
    reader r(as_object(parent.need(key), f), f);
    r.only({"function", "address", "value", "values"});
    write_spec w;
    w.function = read_function(r.need("function"), r.field("function"));
    if (modbus::is_read(w.function))
        throw bad_field{r.field("function"), "must be a write function (write_single_coil, write_single_register, "
                                             "write_multiple_coils, write_multiple_registers), got \"" +
                                                 std::string(modbus::to_string(w.function)) + "\""};
    w.address = static_cast<std::uint16_t>(r.integer("address", 0, 0xFFFF));
    const bool single = w.function == modbus::function_code::write_single_coil ||
                        w.function == modbus::function_code::write_single_register;
    if (single) {
        if (r.get("values")) throw bad_field{r.field("values"), "is for multiple writes; a single write takes \"value\""};
        w.values = {static_cast<std::uint16_t>(r.integer("value", 0, 0xFFFF))};
    } else {
        if (r.get("value")) throw bad_field{r.field("value"), "is for single writes; a multiple write takes \"values\""};
        w.values = read_values(r.need("values"), r.field("values"));
    }
    modbus::request req{slave, w.function, w.address, static_cast<std::uint16_t>(w.values.size()), w.values};
    if (auto f2 = modbus::encode(req); !f2)
        throw bad_field{single ? r.field("value") : r.field("values"), "does not make a valid request: " + f2.error().message()};
    return w;
}

inline profile read_profile(const boost::json::value& doc, const std::string& where) {
    reader r(as_object(doc, where.empty() ? "profile" : where), where);
    r.only({"name", "aliases", "description", "fport", "reply_fport", "slave", "confirmed", "completion",
            "uplink_interval_s", "relay_off", "relay_on", "relay_state", "measurements"});
    profile p;
    p.name = r.string("name");
    if (p.name.empty() || p.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
        throw bad_field{r.field("name"), "must be lower case letters, digits and '_', got \"" + p.name + "\""};
    if (auto* a = r.get("aliases")) {
        const auto& arr = as_array(*a, r.field("aliases"));
        for (std::size_t i = 0; i < arr.size(); ++i)
            p.aliases.push_back(reader::as_string(arr[i], r.field("aliases") + "[" + std::to_string(i) + "]"));
    }
    p.description = r.string_or("description", "");
    p.fport = static_cast<std::uint8_t>(r.integer("fport", min_fport, max_fport));
    if (auto* rf = r.get("reply_fport"); rf && !rf->is_null())
        p.reply_fport = static_cast<std::uint8_t>(reader::as_integer(*rf, r.field("reply_fport"), min_fport, max_fport));
    else if (!rf)
        p.reply_fport = p.fport; // default: the reply comes back on the downlink's port
    p.slave = static_cast<std::uint8_t>(r.integer_or("slave", 1, 1, modbus::max_slave));
    p.confirmed = r.boolean_or("confirmed", true);
    const std::string completion = r.string_or("completion", "device_replied");
    auto ev = evidence_from_name(completion);
    if (!ev || *ev == evidence::none)
        throw bad_field{r.field("completion"), "must be gateway_accepted, device_acknowledged, device_replied or "
                                               "state_verified, got \"" + completion + "\""};
    p.completion = *ev;
    if (p.completion == evidence::device_replied && !p.reply_fport)
        throw bad_field{r.field("completion"), "is device_replied but reply_fport is null: the reply could never be seen"};
    if (p.completion == evidence::device_acknowledged && !p.confirmed)
        throw bad_field{r.field("completion"), "is device_acknowledged but confirmed is false: unconfirmed downlinks are never acknowledged"};
    p.uplink_interval = std::chrono::seconds{r.integer_or("uplink_interval_s", 1200, 1, 7 * 24 * 3600)};
    p.relay_off = read_write(r, "relay_off", p.slave);
    p.relay_on = read_write(r, "relay_on", p.slave);
    if (auto* rs = r.get("relay_state"); rs && !rs->is_null()) {
        const std::string f = r.field("relay_state");
        reader s(as_object(*rs, f), f);
        s.only({"function", "address", "quantity", "on", "off"});
        relay_state_read st;
        st.function = read_function(s.need("function"), s.field("function"));
        if (!modbus::is_read(st.function))
            throw bad_field{s.field("function"), "must be a read function, got \"" + std::string(modbus::to_string(st.function)) + "\""};
        st.address = static_cast<std::uint16_t>(s.integer("address", 0, 0xFFFF));
        st.quantity = static_cast<std::uint16_t>(s.integer_or("quantity", 1, 1, modbus::max_read_registers));
        st.on = read_values(s.need("on"), s.field("on"));
        st.off = read_values(s.need("off"), s.field("off"));
        if (st.on.size() != st.quantity || st.off.size() != st.quantity)
            throw bad_field{f, "'on' and 'off' must each hold 'quantity' (" + std::to_string(st.quantity) + ") values"};
        if (st.on == st.off) throw bad_field{f, "'on' and 'off' must differ"};
        if (auto e = modbus::encode(modbus::request{p.slave, st.function, st.address, st.quantity, {}}); !e)
            throw bad_field{f, "does not make a valid read: " + e.error().message()};
        p.relay_state = std::move(st);
    }
    if (p.completion == evidence::state_verified && !p.relay_state)
        throw bad_field{r.field("completion"), "is state_verified but the profile has no relay_state read-back"};
    if (auto* ms = r.get("measurements")) {
        const auto& arr = as_array(*ms, r.field("measurements"));
        for (std::size_t i = 0; i < arr.size(); ++i) {
            const std::string f = r.field("measurements") + "[" + std::to_string(i) + "]";
            reader m(as_object(arr[i], f), f);
            m.only({"name", "unit", "function", "address", "type", "word_order", "scale"});
            measurement mm;
            mm.name = m.string("name");
            if (mm.name.empty()) throw bad_field{m.field("name"), "must not be empty"};
            if (p.find_measurement(mm.name)) throw bad_field{m.field("name"), "\"" + mm.name + "\" is defined twice"};
            mm.unit = m.string_or("unit", "");
            mm.function = read_function(m.need("function"), m.field("function"));
            if (mm.function != modbus::function_code::read_holding_registers &&
                mm.function != modbus::function_code::read_input_registers)
                throw bad_field{m.field("function"), "must be read_holding_registers or read_input_registers, got \"" +
                                                         std::string(modbus::to_string(mm.function)) + "\""};
            mm.address = static_cast<std::uint16_t>(m.integer("address", 0, 0xFFFF));
            const std::string type = m.string_or("type", "float32");
            auto t = value_type_from_name(type);
            if (!t) throw bad_field{m.field("type"), "must be u16, u32, i32 or float32, got \"" + type + "\""};
            mm.type = *t;
            const std::string order = m.string_or("word_order", "high_word_first");
            auto o = modbus::word_order_from_name(order);
            if (!o) throw bad_field{m.field("word_order"), "must be high_word_first or low_word_first, got \"" + order + "\""};
            mm.order = *o;
            if (auto* sc = m.get("scale")) {
                if (!sc->is_number()) throw bad_field{m.field("scale"), "must be a number, got " + show(*sc)};
                mm.scale = sc->to_number<double>();
            }
            if (static_cast<std::uint32_t>(mm.address) + register_count(mm.type) > 0x10000U)
                throw bad_field{m.field("address"), "runs past register 65535 for a " + type};
            p.measurements.push_back(std::move(mm));
        }
    }
    return p;
}

inline profile_error to_error(const bad_field& b, const std::string& profile_name) {
    std::string who = profile_name.empty() ? "profile" : "profile '" + profile_name + "'";
    return {b.field, who + ": field '" + b.field + "' " + b.what};
}

inline std::string name_of(const boost::json::value& v) {
    if (v.is_object())
        if (auto* n = v.get_object().if_contains("name"); n && n->is_string()) return std::string(n->get_string());
    return {};
}

} // namespace detail

/// One profile from a parsed JSON object.
inline profile_result<profile> profile_from_json(const boost::json::value& doc) {
    try {
        return detail::read_profile(doc, "");
    } catch (const detail::bad_field& b) {
        return detail::to_error(b, detail::name_of(doc));
    }
}

/// Profiles from JSON text: one profile object, an array of them, or {"profiles": [...]}.
inline profile_result<std::vector<profile>> profiles_from_json(std::string_view text) {
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(text, ec);
    if (ec) return profile_error{"", "profile document is not valid JSON: " + ec.message()};
    const boost::json::value* list = &doc;
    if (doc.is_object())
        if (auto* ps = doc.get_object().if_contains("profiles")) list = ps;
    std::vector<profile> out;
    if (list->is_array()) {
        const auto& arr = list->get_array();
        for (std::size_t i = 0; i < arr.size(); ++i) {
            const std::string where = (list == &doc ? "" : "profiles") + std::string("[") + std::to_string(i) + "]";
            try {
                out.push_back(detail::read_profile(arr[i], ""));
            } catch (const detail::bad_field& b) {
                auto e = detail::to_error(b, detail::name_of(arr[i]));
                e.message = where + " " + e.message;
                return e;
            }
        }
        if (out.empty()) return profile_error{"profiles", "profile document holds no profiles"};
        return out;
    }
    auto one = profile_from_json(doc);
    if (!one) return one.error();
    out.push_back(std::move(*one));
    return out;
}

/// A profile as JSON, in the format profile_from_json reads (a round trip gives an equal profile).
inline boost::json::value to_json(const profile& p) {
    namespace json = boost::json;
    auto values = [](const std::vector<std::uint16_t>& v) {
        json::array a;
        for (auto x : v) a.push_back(x);
        return a;
    };
    auto write = [&](const write_spec& w) {
        json::object o{{"function", modbus::to_string(w.function)}, {"address", w.address}};
        const bool single = w.function == modbus::function_code::write_single_coil ||
                            w.function == modbus::function_code::write_single_register;
        if (single && !w.values.empty())
            o["value"] = w.values[0];
        else
            o["values"] = values(w.values);
        return o;
    };
    json::object o;
    o["name"] = p.name;
    json::array aliases;
    for (const auto& a : p.aliases) aliases.push_back(json::string(a));
    o["aliases"] = std::move(aliases);
    o["description"] = p.description;
    o["fport"] = p.fport;
    o["reply_fport"] = p.reply_fport ? json::value(*p.reply_fport) : json::value(nullptr);
    o["slave"] = p.slave;
    o["confirmed"] = p.confirmed;
    o["completion"] = to_string(p.completion);
    o["uplink_interval_s"] = p.uplink_interval.count();
    o["relay_off"] = write(p.relay_off);
    o["relay_on"] = write(p.relay_on);
    if (p.relay_state)
        o["relay_state"] = json::object{{"function", modbus::to_string(p.relay_state->function)},
                                        {"address", p.relay_state->address},
                                        {"quantity", p.relay_state->quantity},
                                        {"on", values(p.relay_state->on)},
                                        {"off", values(p.relay_state->off)}};
    json::array ms;
    for (const auto& m : p.measurements)
        ms.push_back(json::object{{"name", m.name}, {"unit", m.unit}, {"function", modbus::to_string(m.function)},
                                  {"address", m.address}, {"type", to_string(m.type)},
                                  {"word_order", modbus::to_string(m.order)}, {"scale", m.scale}});
    o["measurements"] = std::move(ms);
    return o;
}

} // namespace relaylink::device
