// Device profiles: what to send to a meter model and how to read its answer. Built-ins, JSON.
#include "bindings.hpp"
#include "common.hpp"

#include <relaylink/device/builtin.hpp>
#include <relaylink/device/profile_json.hpp>

#include <boost/json/serialize.hpp>

namespace relaylink::python {

namespace dv = relaylink::device;
namespace mb = relaylink::modbus;

namespace {

[[noreturn]] void raise_profile(const field_error& e) { raise("ProfileError", e.message, py::dict(py::arg("field") = e.field)); }

dv::downlink unwrap(result<dv::downlink> r, const dv::profile& p, const char* what) {
    if (!r) raise("ProfileError", "profile '" + p.name + "' cannot " + what + ": " + r.error().message(), py::dict(py::arg("field") = what));
    return *r;
}

const dv::measurement& measurement_of(const dv::profile& p, const std::string& name) {
    if (auto* m = p.find_measurement(name)) return *m;
    std::string names;
    for (const auto& m : p.measurements) names += (names.empty() ? "" : ", ") + m.name;
    raise("ProfileError", "profile '" + p.name + "' has no measurement '" + name + "'" + (names.empty() ? "" : " (it has: " + names + ")"),
          py::dict(py::arg("field") = "measurements"));
}

std::vector<dv::profile> parse(const std::string& text) {
    auto r = dv::profiles_from_json(text);
    if (!r) raise_profile(r.error());
    return std::move(*r);
}

} // namespace

void bind_profiles(py::module_& m) {
    py::class_<dv::downlink>(m, "Downlink", "What to enqueue: fPort, confirmed or not, and the Modbus RTU frame.")
        .def_readonly("fport", &dv::downlink::fport)
        .def_readonly("confirmed", &dv::downlink::confirmed)
        .def_property_readonly("payload", [](const dv::downlink& d) { return to_py_bytes(d.payload.bytes()); })
        .def("__eq__", [](const dv::downlink& a, const dv::downlink& b) { return a == b; })
        .def("__repr__", [](const dv::downlink& d) {
            return "Downlink(fport=" + std::to_string(d.fport) + ", confirmed=" + (d.confirmed ? "True" : "False") +
                   ", payload=bytes.fromhex('" + to_hex(d.payload.bytes()) + "'))";
        });

    py::class_<dv::reply_match>(m, "ReplyMatch", "Whether an uplink is the device's reply to a downlink.")
        .def_property_readonly("kind", [](const dv::reply_match& r) {
            switch (r.kind) {
            case dv::reply_kind::reply: return "reply";
            case dv::reply_kind::exception: return "exception";
            default: return "unrelated";
            }
        }, "'reply' (normal reply: for writes, the echo), 'exception' (a Modbus exception) or 'unrelated'.")
        .def_property_readonly("response", [](const dv::reply_match& r) -> py::object {
            if (!r) return py::none();
            return py::cast(r.response);
        })
        .def_property_readonly("reason", [](const dv::reply_match& r) { return r.reason ? r.reason.message() : std::string(); })
        .def("__bool__", [](const dv::reply_match& r) { return static_cast<bool>(r); })
        .def("__repr__", [](const dv::reply_match& r) {
            const char* k = r.kind == dv::reply_kind::reply ? "reply" : r.kind == dv::reply_kind::exception ? "exception" : "unrelated";
            return std::string("ReplyMatch(kind='") + k + "'" + (r.reason ? ", reason='" + r.reason.message() + "'" : "") + ")";
        });

    py::class_<dv::profile>(m, "Profile", "A meter model: its downlinks and how to read its replies.")
        .def_readonly("name", &dv::profile::name)
        .def_readonly("aliases", &dv::profile::aliases)
        .def_readonly("description", &dv::profile::description)
        .def_readonly("fport", &dv::profile::fport)
        .def_readonly("reply_fport", &dv::profile::reply_fport)
        .def_readonly("slave", &dv::profile::slave)
        .def_readonly("confirmed", &dv::profile::confirmed)
        .def_property_readonly("completion", [](const dv::profile& p) { return std::string(to_string(p.completion)); })
        .def_property_readonly("uplink_interval", [](const dv::profile& p) { return to_py_timedelta(p.uplink_interval); })
        .def_property_readonly("can_read_relay_state", [](const dv::profile& p) { return p.relay_state.has_value(); })
        .def_property_readonly("measurements", [](const dv::profile& p) {
            py::dict out;
            for (const auto& x : p.measurements) out[py::str(x.name)] = x.unit;
            return out;
        }, "{name: unit} of what the meter can be asked for.")
        .def("relay", [](const dv::profile& p, bool on) { return unwrap(p.relay(on), p, on ? "relay_on" : "relay_off"); },
             py::arg("on"), "The downlink that switches the relay on (True) or off (False).")
        .def("relay_off", [](const dv::profile& p) { return unwrap(p.relay(false), p, "relay_off"); })
        .def("relay_on", [](const dv::profile& p) { return unwrap(p.relay(true), p, "relay_on"); })
        .def("read_relay_state", [](const dv::profile& p) { return unwrap(p.read_relay_state(), p, "read_relay_state"); })
        .def("read", [](const dv::profile& p, const std::string& measurement) {
            return unwrap(p.read(measurement_of(p, measurement)), p, "read");
        }, py::arg("measurement"), "The downlink that reads one measurement ('voltage', ...).")
        .def("match_reply", [](const dv::profile& p, const py::handle& sent, long long fport, const py::handle& data) {
            const auto s = to_bytes(sent, "sent");
            const auto d = to_bytes(data, "data");
            if (fport < 0 || fport > 255) throw py::value_error("fport must be 0-255, got " + std::to_string(fport));
            return p.match_reply(s, static_cast<std::uint8_t>(fport), d);
        }, py::arg("sent"), py::arg("fport"), py::arg("data"),
             "Is the uplink (`fport`, `data`) the device's reply to the frame `sent`?")
        .def("relay_state_from", [](const dv::profile& p, const mb::response& r) { return p.relay_state_from(r); }, py::arg("response"),
             "True (closed), False (open) or None, from a read-back reply.")
        .def("value_of", [](const dv::profile& p, const std::string& measurement, const mb::response& r) {
            auto v = dv::profile::value_of(measurement_of(p, measurement), r);
            if (!v) raise("ModbusError", "cannot read '" + measurement + "': " + v.error().message(), py::dict(py::arg("code") = "value"));
            return *v;
        }, py::arg("measurement"), py::arg("response"), "The measurement's value (scaled) from its read reply.")
        .def("answers_to", &dv::profile::answers_to, py::arg("name"))
        .def("to_json", [](const dv::profile& p) { return boost::json::serialize(dv::to_json(p)); },
             "The profile as JSON, in the format from_json reads.")
        .def("__eq__", [](const dv::profile& a, const dv::profile& b) { return a == b; })
        .def("__repr__", [](const dv::profile& p) { return "<Profile " + p.name + ": " + p.description + ">"; });

    py::class_<dv::profile_registry>(m, "ProfileRegistry", "Profiles by name or alias; starts with the built-ins.")
        .def(py::init([](bool builtins) { return builtins ? dv::profile_registry::with_builtins() : dv::profile_registry{}; }),
             py::arg("builtins") = true)
        .def("get", [](const dv::profile_registry& r, const std::string& name) {
            if (auto* p = r.find(name)) return *p;
            raise("ProfileError", "no profile named '" + name + "'; known: " + r.describe_names(), py::dict(py::arg("field") = "name"));
        }, py::arg("name"))
        .def("find", [](const dv::profile_registry& r, const std::string& name) -> std::optional<dv::profile> {
            if (auto* p = r.find(name)) return *p;
            return std::nullopt;
        }, py::arg("name"))
        .def("add", [](dv::profile_registry& r, const dv::profile& p) {
            if (!r.add(p))
                raise("ProfileError", "profile '" + p.name + "': its name or an alias is already another profile's (known: " +
                                          r.describe_names() + ")", py::dict(py::arg("field") = "aliases"));
        }, py::arg("profile"), "Add a profile, replacing one of the same name.")
        .def("names", [](const dv::profile_registry& r) {
            std::vector<std::string> out;
            for (const auto& p : r.all()) out.push_back(p.name);
            return out;
        })
        .def("all", [](const dv::profile_registry& r) { return r.all(); })
        .def("__contains__", [](const dv::profile_registry& r, const std::string& n) { return r.find(n) != nullptr; })
        .def("__len__", [](const dv::profile_registry& r) { return r.all().size(); })
        .def("copy", [](const dv::profile_registry& r) { return r; })
        .def("__repr__", [](const dv::profile_registry& r) { return "<ProfileRegistry " + r.describe_names() + ">"; });

    m.def("profiles_from_json", &parse, py::arg("text"),
          "Profiles from JSON text: one profile object, an array, or {\"profiles\": [...]}. ProfileError names the field.");
    m.def("builtin_profiles", &dv::builtin_profiles);
    m.def("eastron_sdm320c", &dv::eastron_sdm320c, py::arg("passthrough_fport") = 5);
}

} // namespace relaylink::python
