// ChirpStack's integration events (MQTT or HTTP integration JSON) as Python objects, one class per type.
#include "bindings.hpp"
#include "common.hpp"

#include <relaylink/chirpstack/event.hpp>

namespace relaylink::python {

namespace cs = relaylink::chirpstack;

namespace {

template <class T>
void common(py::class_<T>& c, const char* type) {
    c.def_property_readonly("type", [type](const T&) { return type; })
        .def_property_readonly("dev_eui", [](const T& e) { return e.device.dev_eui; })
        .def_readonly("device", &T::device)
        .def_property_readonly("time", [](const T& e) { return to_py_time(e.time); })
        .def("__repr__", [type](const T& e) { return std::string("<") + type + " event " + e.device.dev_eui + ">"; });
}

} // namespace

void bind_events(py::module_& m) {
    py::class_<cs::device_info>(m, "DeviceInfo", "The deviceInfo every event carries.")
        .def_readonly("tenant_id", &cs::device_info::tenant_id)
        .def_readonly("tenant_name", &cs::device_info::tenant_name)
        .def_readonly("application_id", &cs::device_info::application_id)
        .def_readonly("application_name", &cs::device_info::application_name)
        .def_readonly("device_profile_id", &cs::device_info::device_profile_id)
        .def_readonly("device_profile_name", &cs::device_info::device_profile_name)
        .def_readonly("device_name", &cs::device_info::device_name)
        .def_readonly("dev_eui", &cs::device_info::dev_eui)
        .def_readonly("device_class_enabled", &cs::device_info::device_class_enabled)
        .def_readonly("tags", &cs::device_info::tags)
        .def("__repr__", [](const cs::device_info& d) { return "DeviceInfo(dev_eui='" + d.dev_eui + "', name='" + d.device_name + "')"; });

    py::class_<cs::up_event> up(m, "UpEvent", "An uplink: for a UC100 on the pass-through port, the meter's raw RTU reply.");
    common(up, "up");
    up.def_readonly("deduplication_id", &cs::up_event::deduplication_id)
        .def_readonly("dev_addr", &cs::up_event::dev_addr)
        .def_readonly("adr", &cs::up_event::adr)
        .def_readonly("dr", &cs::up_event::dr)
        .def_readonly("f_cnt", &cs::up_event::f_cnt)
        .def_readonly("f_port", &cs::up_event::f_port)
        .def_readonly("confirmed", &cs::up_event::confirmed)
        .def_property_readonly("data", [](const cs::up_event& e) { return to_py_bytes(e.data); })
        .def_readonly("rssi", &cs::up_event::rssi)
        .def_readonly("snr", &cs::up_event::snr)
        .def_readonly("gateway_id", &cs::up_event::gateway_id)
        .def_readonly("gateways", &cs::up_event::gateways);

    py::class_<cs::ack_event> ack(m, "AckEvent", "The device's answer to a confirmed downlink.");
    common(ack, "ack");
    ack.def_readonly("deduplication_id", &cs::ack_event::deduplication_id)
        .def_readonly("queue_item_id", &cs::ack_event::queue_item_id)
        .def_readonly("acknowledged", &cs::ack_event::acknowledged)
        .def_readonly("f_cnt_down", &cs::ack_event::f_cnt_down);

    py::class_<cs::txack_event> txack(m, "TxAckEvent", "A gateway accepted the downlink for transmission.");
    common(txack, "txack");
    txack.def_readonly("downlink_id", &cs::txack_event::downlink_id)
        .def_readonly("queue_item_id", &cs::txack_event::queue_item_id)
        .def_readonly("f_cnt_down", &cs::txack_event::f_cnt_down)
        .def_readonly("gateway_id", &cs::txack_event::gateway_id);

    py::class_<cs::log_event> log(m, "LogEvent", "ChirpStack's log for a device (EXPIRED, DOWNLINK_PAYLOAD_SIZE, ...).");
    common(log, "log");
    log.def_property_readonly("level", [](const cs::log_event& e) {
           return e.level == cs::log_level::error ? "ERROR" : e.level == cs::log_level::warning ? "WARNING" : "INFO";
       })
        .def_readonly("code", &cs::log_event::code)
        .def_readonly("description", &cs::log_event::description)
        .def_readonly("context", &cs::log_event::context)
        .def_property_readonly("queue_item_id", &cs::log_event::queue_item_id);

    py::class_<cs::status_event> status(m, "StatusEvent", "The device's status (margin, battery).");
    common(status, "status");
    status.def_readonly("deduplication_id", &cs::status_event::deduplication_id)
        .def_readonly("margin", &cs::status_event::margin)
        .def_readonly("external_power_source", &cs::status_event::external_power_source)
        .def_property_readonly("battery_level", [](const cs::status_event& e) -> std::optional<double> {
            if (e.battery_level_unavailable) return std::nullopt;
            return e.battery_level;
        });

    py::class_<cs::join_event> join(m, "JoinEvent", "The device (re)joined.");
    common(join, "join");
    join.def_readonly("deduplication_id", &cs::join_event::deduplication_id).def_readonly("dev_addr", &cs::join_event::dev_addr);

    py::class_<cs::location_event> loc(m, "LocationEvent", "A location fix.");
    common(loc, "location");
    loc.def_readonly("deduplication_id", &cs::location_event::deduplication_id)
        .def_readonly("latitude", &cs::location_event::latitude)
        .def_readonly("longitude", &cs::location_event::longitude)
        .def_readonly("altitude", &cs::location_event::altitude)
        .def_readonly("source", &cs::location_event::source)
        .def_readonly("accuracy", &cs::location_event::accuracy);

    py::class_<cs::unknown_event>(m, "UnknownEvent", "An event type relaylink does not know (not an error).")
        .def_readonly("type", &cs::unknown_event::type)
        .def_readonly("device", &cs::unknown_event::device)
        .def_property_readonly("dev_eui", [](const cs::unknown_event& e) { return e.device ? e.device->dev_eui : std::string(); })
        .def_property_readonly("time", [](const cs::unknown_event&) { return py::none(); })
        .def("__repr__", [](const cs::unknown_event& e) { return "<" + e.type + " event (unknown type)>"; });

    m.def("parse_event", [](const std::string& event_type, const py::handle& payload) -> cs::event {
        const std::string text = payload_text(payload, "payload");
        boost::system::result<cs::event, field_error> r = [&] {
            py::gil_scoped_release nogil;
            return cs::parse_event(event_type, text);
        }();
        if (!r) raise("EventError", r.error().message, py::dict(py::arg("field") = r.error().field));
        return std::move(*r);
    }, py::arg("event_type"), py::arg("payload"),
          "Read one ChirpStack event: its type ('up', 'ack', 'txack', 'log', 'status', 'join', 'location'; others give "
          "UnknownEvent) and its JSON payload (str or bytes). EventError names the field that is wrong.");
}

} // namespace relaylink::python
