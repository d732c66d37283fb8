// relaylink.Simulator: ChirpStack's REST API and Class A devices (UC100 + SDM320C, IVY) on one machine.
#include "bindings.hpp"
#include "handles.hpp"


namespace relaylink::python {

namespace sm = relaylink::sim;

namespace {

double probability(double p, const char* what) {
    if (!(p >= 0 && p <= 1)) raise("ConfigError", std::string(what) + " must be a probability 0-1, got " + std::to_string(p), py::dict(py::arg("field") = what));
    return p;
}

py::dict device_dict(const sm::device_view& v) {
    py::dict d;
    d["dev_eui"] = v.cfg.dev_eui;
    d["name"] = v.cfg.name;
    d["kind"] = std::string(sm::to_string(v.cfg.kind));
    d["wiring"] = v.cfg.power == sm::wiring::load_side ? "load_side" : "line_side";
    d["relay_closed"] = v.relay_closed;
    d["bridge_powered"] = v.bridge_powered;
    d["f_cnt_up"] = v.f_cnt_up;
    d["f_cnt_down"] = v.f_cnt_down;
    d["queue_length"] = v.queue_length;
    d["last_seen"] = to_py_time(v.last_seen);
    if (v.status) {
        py::dict st;
        st["margin"] = v.status->margin;
        st["external_power_source"] = v.status->external_power_source;
        st["battery_level"] = v.status->battery_level;
        d["status"] = st;
    } else {
        d["status"] = py::none();
    }
    d["uplinks_sent"] = v.uplinks_sent;
    d["uplinks_lost"] = v.uplinks_lost;
    py::list downs;
    for (const auto& r : v.downlinks) {
        py::dict x;
        x["time"] = to_py_time(r.time);
        x["queue_item_id"] = r.queue_item_id;
        x["f_cnt_down"] = r.f_cnt_down;
        x["f_port"] = r.f_port;
        x["confirmed"] = r.confirmed;
        x["data"] = to_py_bytes(r.data);
        x["reached_device"] = r.reached_device;
        downs.append(x);
    }
    d["downlinks"] = downs;
    return d;
}

} // namespace

void bind_sim(py::module_& m) {
    py::class_<py_sim>(m, "Simulator",
                       "A ChirpStack v4 REST API with simulated Class A devices behind it, on 127.0.0.1. Time runs `speed` "
                       "times faster than real time (or only through advance() with manual_time=True). Use it as a context "
                       "manager; url and api_key are what a ChirpStackClient needs.")
        .def(py::init([](const std::string& address, long long port, const std::string& api_key, double speed, bool manual_time,
                         unsigned long long seed, const std::string& integration_url,
                         const std::map<std::string, std::string>& integration_headers, const std::string& mqtt_url, int mqtt_qos,
                         const std::string& event_order) {
                 sm::simulator_config c;
                 c.address = address;
                 if (port < 0 || port > 65535) raise("ConfigError", "port must be 0-65535, got " + std::to_string(port), py::dict(py::arg("field") = "port"));
                 c.port = static_cast<unsigned short>(port);
                 if (api_key.empty()) raise("ConfigError", "api_key must not be empty", py::dict(py::arg("field") = "api_key"));
                 c.api_key = api_key;
                 if (!(speed > 0 && speed <= 1e6)) raise("ConfigError", "speed must be >0 and <= 1e6, got " + std::to_string(speed), py::dict(py::arg("field") = "speed"));
                 c.speed = speed;
                 c.manual_time = manual_time;
                 c.seed = seed;
                 c.integration_url = integration_url;
                 for (const auto& [k, v] : integration_headers) c.integration_headers.emplace_back(k, v);
                 c.mqtt_url = mqtt_url;
                 if (mqtt_qos < 0 || mqtt_qos > 2) raise("ConfigError", "mqtt_qos must be 0, 1 or 2", py::dict(py::arg("field") = "mqtt_qos"));
                 c.mqtt_qos = mqtt_qos;
                 if (event_order == "observed")
                     c.order = sm::event_order::observed;
                 else if (event_order == "shuffled")
                     c.order = sm::event_order::shuffled;
                 else
                     raise("ConfigError", "event_order must be 'observed' or 'shuffled', got '" + event_order + "'",
                           py::dict(py::arg("field") = "event_order"));
                 std::shared_ptr<sim_runtime> rt;
                 try {
                     rt = std::make_shared<sim_runtime>(std::move(c));
                 } catch (const std::invalid_argument& e) {
                     raise("ConfigError", e.what(), py::dict(py::arg("field") = "simulator"));
                 }
                 try {
                     rt->sim.start();
                 } catch (const std::exception& e) {
                     raise("ConfigError", std::string("simulator cannot listen on ") + address + ":" + std::to_string(port) + ": " + e.what(),
                           py::dict(py::arg("field") = "port"));
                 }
                 rt->thread = std::thread([r = rt.get()] { r->io.run(); });
                 return py_sim(std::move(rt));
             }),
             py::kw_only(), py::arg("address") = "127.0.0.1", py::arg("port") = 0, py::arg("api_key") = "relaylink-sim-key",
             py::arg("speed") = 600.0, py::arg("manual_time") = false, py::arg("seed") = 1, py::arg("integration_url") = "",
             py::arg("integration_headers") = std::map<std::string, std::string>{}, py::arg("mqtt_url") = "",
             py::arg("mqtt_qos") = sm::simulator_config{}.mqtt_qos, py::arg("event_order") = "observed")
        .def_property_readonly("url", [](const py_sim& s) { return s.get().url(); })
        .def_property_readonly("port", [](const py_sim& s) { return s.get().port(); })
        .def_property_readonly("api_key", [](const py_sim& s) { return s.get().settings().api_key; })
        .def_property_readonly("speed", [](const py_sim& s) { return s.get().settings().speed; })
        .def_property_readonly("manual_time", [](const py_sim& s) { return s.get().settings().manual_time; })
        .def_property_readonly("running", [](const py_sim& s) { return s.rt != nullptr; })
        .def("stop", [](py_sim& s) { s.stop(); }, "Stop serving and the clock. Idempotent.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](py_sim& s, const py::args&) { s.stop(); })
        .def("add_device", [](const py_sim& s, const std::string& dev_eui, const std::string& kind, const std::string& name,
                              long long passthrough_port, long long slave, const std::string& wiring, const py::object& uplink_interval,
                              double jitter, int data_rate, bool relay_closed, double uplink_loss, double downlink_loss,
                              double gateway_tx_error, const py::object& reply_delay, const std::string& application_id,
                              const std::string& device_profile_id) {
            sm::device_config d;
            d.dev_eui = checked_eui(dev_eui);
            d.name = name.empty() ? "meter-" + d.dev_eui.substr(12) : name;
            auto k = sm::device_kind_from_name(kind);
            if (!k) raise("ConfigError", "kind must be 'uc100_sdm320c' or 'ivy_em114039', got '" + kind + "'", py::dict(py::arg("field") = "kind"));
            d.kind = *k;
            if (passthrough_port < 1 || passthrough_port > 223)
                raise("ConfigError", "passthrough_port must be 1-223, got " + std::to_string(passthrough_port), py::dict(py::arg("field") = "passthrough_port"));
            d.passthrough_port = static_cast<std::uint8_t>(passthrough_port);
            if (slave < 1 || slave > 247) raise("ConfigError", "slave must be 1-247, got " + std::to_string(slave), py::dict(py::arg("field") = "slave"));
            d.slave = static_cast<std::uint8_t>(slave);
            if (wiring == "line_side")
                d.power = sm::wiring::line_side;
            else if (wiring == "load_side")
                d.power = sm::wiring::load_side;
            else
                raise("ConfigError", "wiring must be 'line_side' or 'load_side', got '" + wiring + "'", py::dict(py::arg("field") = "wiring"));
            d.uplink_interval = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(uplink_interval, "uplink_interval"));
            if (d.uplink_interval < std::chrono::seconds(1))
                raise("ConfigError", "uplink_interval must be at least 1 second", py::dict(py::arg("field") = "uplink_interval"));
            d.jitter = probability(jitter, "jitter");
            if (data_rate < 0 || data_rate > 15) raise("ConfigError", "data_rate must be 0-15", py::dict(py::arg("field") = "data_rate"));
            d.data_rate = data_rate;
            d.relay_closed = relay_closed;
            d.faults.uplink_loss = probability(uplink_loss, "uplink_loss");
            d.faults.downlink_loss = probability(downlink_loss, "downlink_loss");
            d.faults.gateway_tx_error = probability(gateway_tx_error, "gateway_tx_error");
            d.faults.reply_delay = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(reply_delay, "reply_delay"));
            d.application_id = application_id;
            d.device_profile_id = device_profile_id;
            s.get().add_device(std::move(d));
        }, py::arg("dev_eui"), py::kw_only(), py::arg("kind") = "uc100_sdm320c", py::arg("name") = "", py::arg("passthrough_port") = 5,
             py::arg("slave") = 1, py::arg("wiring") = "line_side", py::arg("uplink_interval") = 600.0, py::arg("jitter") = 0.1,
             py::arg("data_rate") = 5, py::arg("relay_closed") = true, py::arg("uplink_loss") = 0.0, py::arg("downlink_loss") = 0.0,
             py::arg("gateway_tx_error") = 0.0, py::arg("reply_delay") = 2.0, py::arg("application_id") = "",
             py::arg("device_profile_id") = "",
             "Add (or replace) a device. kind: 'uc100_sdm320c' (a UC100 bridge to an SDM320C) or 'ivy_em114039'. Times are "
             "simulated seconds (or timedelta).")
        .def("remove_device", [](const py_sim& s, const std::string& e) { return s.get().remove_device(checked_eui(e)); }, py::arg("dev_eui"))
        .def("device", [](const py_sim& s, const std::string& e) -> py::object {
            auto v = s.get().device(checked_eui(e));
            if (!v) return py::none();
            return device_dict(*v);
        }, py::arg("dev_eui"), "The device as the simulator sees it (relay, counters, queue, every downlink it received), or None.")
        .def("device_euis", [](const py_sim& s) { return s.get().device_euis(); })
        .def("trigger_uplink", [](const py_sim& s, const std::string& e) {
            auto eui = checked_eui(e);
            auto& sim = s.get();
            py::gil_scoped_release nogil; // runs the network, which may call event callbacks into Python
            return sim.trigger_uplink(eui);
        }, py::arg("dev_eui"), "The device transmits now; False when unknown or without power.")
        .def("restore_power", [](const py_sim& s, const std::string& e) {
            auto eui = checked_eui(e);
            auto& sim = s.get();
            py::gil_scoped_release nogil;
            return sim.restore_power(eui);
        }, py::arg("dev_eui"), "Power restored on site (a load-side bridge talks again).")
        .def("join", [](const py_sim& s, const std::string& e, bool flush_queue) {
            auto eui = checked_eui(e);
            auto& sim = s.get();
            py::gil_scoped_release nogil;
            return sim.join(eui, flush_queue);
        }, py::arg("dev_eui"), py::kw_only(), py::arg("flush_queue") = true,
             "An OTAA rejoin. flush_queue: the device profile's 'flush queue on activate' (ChirpStack's UI default): the "
             "queue is deleted silently and only a join event is published.")
        .def("set_faults", [](const py_sim& s, const std::string& e, double uplink_loss, double downlink_loss, double gateway_tx_error,
                              const py::object& reply_delay) {
            sm::device_faults f;
            f.uplink_loss = probability(uplink_loss, "uplink_loss");
            f.downlink_loss = probability(downlink_loss, "downlink_loss");
            f.gateway_tx_error = probability(gateway_tx_error, "gateway_tx_error");
            f.reply_delay = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(reply_delay, "reply_delay"));
            return s.get().set_faults(checked_eui(e), f);
        }, py::arg("dev_eui"), py::kw_only(), py::arg("uplink_loss") = 0.0, py::arg("downlink_loss") = 0.0,
             py::arg("gateway_tx_error") = 0.0, py::arg("reply_delay") = 2.0)
        .def("set_http_faults", [](const py_sim& s, double error_5xx_rate, double error_500_rate, double rate_limit_rate,
                                   double refuse_rate, double drop_rate, double lost_response_rate, double garbled_rate,
                                   double slow_rate, const py::object& slow_latency, const py::object& latency,
                                   const std::string& only_method) {
            sm::http_faults f;
            f.error_5xx_rate = probability(error_5xx_rate, "error_5xx_rate");
            f.error_500_rate = probability(error_500_rate, "error_500_rate");
            f.rate_limit_rate = probability(rate_limit_rate, "rate_limit_rate");
            f.refuse_rate = probability(refuse_rate, "refuse_rate");
            f.drop_rate = probability(drop_rate, "drop_rate");
            f.lost_response_rate = probability(lost_response_rate, "lost_response_rate");
            f.garbled_rate = probability(garbled_rate, "garbled_rate");
            f.slow_rate = probability(slow_rate, "slow_rate");
            f.slow_latency = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(slow_latency, "slow_latency"));
            f.latency = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(latency, "latency"));
            f.only_method = only_method;
            try {
                s.get().set_http_faults(f);
            } catch (const std::invalid_argument& e) {
                raise("ConfigError", e.what(), py::dict(py::arg("field") = "http_faults"));
            }
        }, py::kw_only(), py::arg("error_5xx_rate") = 0.0, py::arg("error_500_rate") = 0.0, py::arg("rate_limit_rate") = 0.0,
             py::arg("refuse_rate") = 0.0, py::arg("drop_rate") = 0.0, py::arg("lost_response_rate") = 0.0,
             py::arg("garbled_rate") = 0.0, py::arg("slow_rate") = 0.0, py::arg("slow_latency") = 2.0, py::arg("latency") = 0.0,
             py::arg("only_method") = "",
             "Make the REST API flaky: each request suffers at most one fault, drawn from these probabilities (their sum at "
             "most 1). drop/503/500/429/400 leave ChirpStack untouched; lost_response, garbled (a 200 that is not JSON) and "
             "slow (answered after slow_latency) apply the request first. Latencies in real seconds. only_method ('POST', "
             "'GET', 'DELETE'): only those requests suffer the faults.")
        .def("reset", [](const py_sim& s) { s.get().reset(); })
        .def("now", [](const py_sim& s) { return to_py_time(s.get().now()); }, "Simulated time (an aware datetime).")
        .def("advance", [](const py_sim& s, const py::object& d) {
            auto dur = to_duration(d, "duration");
            auto& sim = s.get();
            py::gil_scoped_release nogil;
            sim.advance(dur);
        }, py::arg("duration"), "Manual time: move the clock (seconds or timedelta), running what becomes due.")
        .def_property_readonly("events_emitted", [](const py_sim& s) { return s.get().events_emitted(); })
        .def_property_readonly("events_published_mqtt", [](const py_sim& s) { return s.get().events_published_mqtt(); },
                               "Events handed to the MQTT broker's client (0 without mqtt_url).")
        .def_property_readonly("events_dropped_mqtt", [](const py_sim& s) { return s.get().events_dropped_mqtt(); },
                               "Events the MQTT client refused (its buffer full or the client unusable): never delivered.")
        .def("on_event", [](const py_sim& s, py::function f) {
            held h(std::move(f));
            s.get().on_event([h](const sm::event_out& e) { call_from_cpp(h, "Simulator.on_event callback", e.type, e.dev_eui, e.json); });
        }, py::arg("callback"),
             "callback(event_type, dev_eui, payload_json) for every event, as ChirpStack would publish it (called on the "
             "simulator's thread).")
        .def("__repr__", [](const py_sim& s) {
            if (!s.rt) return std::string("<Simulator stopped>");
            return "<Simulator " + s.rt->sim.url() + ">";
        });
}

} // namespace relaylink::python
