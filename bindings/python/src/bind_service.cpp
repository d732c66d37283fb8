// relaylink.RelayService: the command lifecycle (safety guard, dispatch, events, retries, audit
// trail) over a SQLite file, running on its ChirpStackClient's io_context thread. Every call
// releases the GIL while C++ works; subscribers are called with the GIL and without the service's
// lock. Also the event sources (MQTT, ChirpStack's HTTP integration) that feed it.
#include "bindings.hpp"
#include "handles.hpp"

#include <relaylink/chirpstack/validate.hpp>
#include <relaylink/redact.hpp>
#include <relaylink/ingest/http_integration.hpp>
#include <relaylink/ingest/mqtt_source.hpp>
#include <relaylink/service/report.hpp>
#include <relaylink/service/service.hpp>

#include <condition_variable>
#include <mutex>

namespace relaylink::python {

namespace sv = relaylink::service;
namespace st = relaylink::store;
namespace cmd = relaylink::command;
namespace cs = relaylink::chirpstack;
namespace ing = relaylink::ingest;

namespace {

/// A command as Python sees it; `events` only when asked for (RelayService.command()).
struct py_command {
    st::command_row row;
    std::optional<std::vector<st::audit_event>> events;
};

/// The simulator → service link of an in-process simulator: cut when the service closes.
struct feed {
    std::mutex m;
    sv::service* target = nullptr;
    std::uint64_t malformed = 0;
};

/// An event source attached to a service. When the service closes, the source is stopped and
/// destroyed right away (the HTTP integration runs on the client's io_context, which may go next);
/// a Python EventSource still held then answers from what was recorded at that moment.
struct source_handle {
    std::unique_ptr<ing::mqtt_source> mqtt;
    std::unique_ptr<ing::http_integration> http;
    bool is_mqtt = false;
    std::string url_at_close;
    ing::source_stats stats_at_close;

    bool released() const noexcept { return !mqtt && !http; }
    void stop() {
        if (mqtt) mqtt->stop();
        if (http) http->stop();
    }
    void release() {
        if (released()) return;
        stop();
        url_at_close = url();
        stats_at_close = stats();
        mqtt.reset();
        http.reset();
    }
    std::string url() const { return mqtt ? mqtt->settings().url : http ? http->url() : url_at_close; }
    ing::source_stats stats() const { return mqtt ? mqtt->stats() : http ? http->stats() : stats_at_close; }
};

ing::log_fn python_log(const std::string& who);

struct py_service : process_owned {
    std::shared_ptr<cs::sync_client> client;
    std::shared_ptr<sim_runtime> sim;
    std::shared_ptr<feed> sim_feed;
    std::unique_ptr<st::store> db;
    std::unique_ptr<sv::service> svc;
    std::vector<std::shared_ptr<source_handle>> sources;
    std::string db_path;

    py_service() = default;
    py_service(py_service&&) = default;
    ~py_service() { close(std::chrono::milliseconds(0)); } // garbage: no waiting; close() waits

    sv::service& get() const {
        check("this RelayService");
        if (!svc) throw py::value_error("this RelayService is closed");
        return *svc;
    }
    /// `wait_for_calls`: how long ChirpStack calls in flight may take to finish and be recorded.
    void close(std::chrono::milliseconds wait_for_calls) {
        if (!svc) return;
        if (forked()) { // leave everything to the process that owns it
            new std::unique_ptr<sv::service>(std::move(svc));
            new std::unique_ptr<st::store>(std::move(db));
            new std::vector<std::shared_ptr<source_handle>>(std::move(sources));
            abandon(client);
            if (sim) abandon(sim);
            return;
        }
        auto run = [this, wait_for_calls] {
            svc->stop(); // nothing new goes out; a source waiting for room in the service gives up
            for (auto& s : sources) s->release();
            if (sim_feed) {
                std::lock_guard lk(sim_feed->m);
                sim_feed->target = nullptr;
            }
            // What is in flight is recorded, not left to a lease — within the timeout, whatever the store does.
            if (!svc->stop(wait_for_calls) && svc->store_work() > 0) {
                // A store call is still running (a lock held by another process, a database outage): the service and
                // its store are kept, never destroyed under it, and left to finish on their own threads.
                python_log("service")(relaylink::log_level::warning,
                                      "RelayService.close: the store is still busy after the timeout; the service is left to "
                                      "finish its store call on its own threads (nothing new is sent)");
                new std::unique_ptr<sv::service>(std::move(svc));
                new std::unique_ptr<st::store>(std::move(db));
                sources.clear();
                abandon(client);
                if (sim) abandon(sim);
                return;
            }
            svc.reset();
            sources.clear();
            db.reset();
            client.reset();
            sim.reset();
        };
        without_gil(run);
    }
};

/// Run service work without the GIL; the service's exceptions become relaylink's.
template <class F>
auto service_call(F&& f) {
    try {
        py::gil_scoped_release nogil;
        return f();
    } catch (const sv::request_error& e) {
        raise("RequestError", e.what(), py::dict(py::arg("field") = e.field()));
    } catch (const st::store_error& e) {
        raise("StoreError", e.what());
    }
}

cmd::state state_of(const std::string& s) {
    if (auto x = cmd::state_from_name(s)) return *x;
    std::string names;
    for (auto x : cmd::all_states) names += (names.empty() ? "" : ", ") + std::string(cmd::to_string(x));
    throw py::value_error("unknown command state '" + s + "'; states: " + names);
}

sv::request request_of(const std::string& dev_eui, const std::string& profile, const std::string& meter_ref, const std::string& actor,
                       const std::string& reason, const std::string& key, int priority, const py::handle& not_before,
                       const py::handle& deadline, const py::handle& meter_id, const py::handle& user_id) {
    sv::request r;
    auto id_of = [](const py::handle& v, const char* field, const char* what) -> std::optional<std::int64_t> {
        if (v.is_none()) return std::nullopt;
        if (py::isinstance<py::bool_>(v) || !py::isinstance<py::int_>(v))
            raise("RequestError", std::string(field) + " must be the portal's " + what + " (a positive integer), got " +
                  std::string(py::repr(v)), py::dict(py::arg("field") = field));
        long long n = 0;
        try {
            n = v.cast<long long>();
        } catch (const py::cast_error&) {
            n = 0;
        }
        if (n < 1)
            raise("RequestError", std::string(field) + " must be the portal's " + what + " (a positive integer), got " +
                  std::string(py::repr(v)), py::dict(py::arg("field") = field));
        return n;
    };
    r.portal_meter_id = id_of(meter_id, "meter_id", "meters.id");
    r.portal_user_id = id_of(user_id, "user_id", "users.id");
    r.dev_eui = dev_eui;
    r.profile = profile;
    r.meter_ref = meter_ref;
    r.actor = actor;
    r.reason = reason;
    r.idempotency_key = key;
    r.priority = priority;
    r.not_before = to_opt_sys_time(not_before, "not_before");
    r.deadline = to_opt_sys_time(deadline, "deadline");
    return r;
}

std::chrono::minutes time_of_day(const py::handle& o, const char* what) {
    if (PyUnicode_Check(o.ptr())) {
        const std::string s = o.cast<std::string>();
        int h = -1, m = -1;
        char tail = 0;
        if (std::sscanf(s.c_str(), "%d:%d%c", &h, &m, &tail) == 2 && h >= 0 && h <= 24 && m >= 0 && m < 60 && (h < 24 || m == 0))
            return std::chrono::minutes(h * 60 + m);
        raise("ConfigError", std::string("safety.") + what + " must be a time of day 'HH:MM' (00:00-24:00), got '" + s + "'",
              py::dict(py::arg("field") = std::string("safety.") + what));
    }
    if (py::hasattr(o, "hour") && py::hasattr(o, "minute"))
        return std::chrono::minutes(o.attr("hour").cast<int>() * 60 + o.attr("minute").cast<int>());
    raise("ConfigError", std::string("safety.") + what + " must be 'HH:MM' or a datetime.time", py::dict(py::arg("field") = std::string("safety.") + what));
}

sv::safety_policy safety_of(const py::dict& d) {
    sv::safety_policy p;
    static const char* days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    for (auto kv : d) { // (not a structured binding: clang 14 cannot capture one in a lambda)
        const py::handle k = kv.first, v = kv.second;
        const std::string key = py::str(k);
        const std::string field = "safety." + key;
        auto bad = [&](const std::string& what) { raise("ConfigError", field + " " + what + ", got " + std::string(py::repr(v)), py::dict(py::arg("field") = field)); };
        if (key == "windows") {
            if (!PyBool_Check(v.ptr())) bad("must be True or False");
            p.windows = v.cast<bool>();
        } else if (key == "time_zone") {
            if (!PyUnicode_Check(v.ptr())) bad("must be an IANA zone name such as 'Africa/Johannesburg'");
            p.time_zone = v.cast<std::string>();
        } else if (key == "weekdays") {
            p.weekdays.fill(false);
            for (auto day : v) {
                if (PyLong_Check(day.ptr())) {
                    const int n = day.cast<int>();
                    if (n < 0 || n > 6) bad("must list days as 0 (Sunday) to 6 (Saturday) or 'mon'..'sun'");
                    p.weekdays[static_cast<std::size_t>(n)] = true;
                } else if (PyUnicode_Check(day.ptr())) {
                    std::string n = day.cast<std::string>().substr(0, 3);
                    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    auto it = std::find_if(std::begin(days), std::end(days), [&](const char* x) { return n == x; });
                    if (it == std::end(days)) bad("must list days as 0 (Sunday) to 6 (Saturday) or 'mon'..'sun'");
                    p.weekdays[static_cast<std::size_t>(it - std::begin(days))] = true;
                } else {
                    bad("must list days as 0 (Sunday) to 6 (Saturday) or 'mon'..'sun'");
                }
            }
        } else if (key == "window_start") {
            p.window_start = time_of_day(v, "window_start");
        } else if (key == "window_end") {
            p.window_end = time_of_day(v, "window_end");
        } else if (key == "holidays") {
            if (PyUnicode_Check(v.ptr())) bad("must be a list of dates 'YYYY-MM-DD'");
            for (auto h : v)
                p.holidays.push_back(PyUnicode_Check(h.ptr()) ? h.cast<std::string>() : py::str(h.attr("isoformat")()).cast<std::string>());
        } else if (key == "outside") {
            const std::string o = PyUnicode_Check(v.ptr()) ? v.cast<std::string>() : "";
            if (o == "defer")
                p.outside = sv::safety_policy::outside_window::defer;
            else if (o == "refuse")
                p.outside = sv::safety_policy::outside_window::refuse;
            else
                bad("must be 'defer' or 'refuse'");
        } else if (key == "protected_meters") {
            if (PyUnicode_Check(v.ptr())) bad("must be a list of DevEUIs or meter references");
            for (auto x : v) p.protected_meters.insert(py::str(x).cast<std::string>());
        } else if (key == "dry_run") {
            if (!PyBool_Check(v.ptr())) bad("must be True or False");
            p.dry_run = v.cast<bool>();
        } else if (key == "max_disconnects_per_minute") {
            if (!PyLong_Check(v.ptr()) || v.cast<long long>() < 0 || v.cast<long long>() > 1000000) bad("must be a count >= 0 (0: no limit)");
            p.max_disconnects_per_minute = v.cast<int>();
        } else {
            raise("ConfigError",
                  "unknown safety setting '" + key + "'; known: windows, time_zone, weekdays, window_start, window_end, holidays, "
                  "outside, protected_meters, dry_run, max_disconnects_per_minute",
                  py::dict(py::arg("field") = field));
        }
    }
    return p;
}

py::dict stats_dict(const ing::source_stats& s) {
    py::dict d;
    d["received"] = s.received;
    d["delivered"] = s.delivered;
    d["malformed"] = s.malformed;
    d["foreign"] = s.foreign;
    d["unsupported"] = s.unsupported;
    d["rejected"] = s.rejected;
    d["sink_errors"] = s.sink_errors;
    d["full"] = s.full;
    d["connects"] = s.connects;
    d["connect_failures"] = s.connect_failures;
    d["connections_lost"] = s.connections_lost;
    return d;
}

ing::log_fn python_log(const std::string& who) {
    return [who](ing::log_level l, std::string_view msg) {
        const int level = l == ing::log_level::debug ? log_debug : l == ing::log_level::info ? log_info : l == ing::log_level::warning ? log_warning : log_error;
        log(level, who + ": " + std::string(msg));
    };
}

/// RelayService.disconnect (on = false) or .reconnect (on = true).
auto relay_call(bool on) {
    return [on](const py_service& s, const std::string& dev_eui, const std::string& profile, const std::string& meter_ref,
                const std::string& actor, const std::string& reason, const std::string& key, int priority, const py::object& not_before,
                const py::object& deadline, const py::object& meter_id, const py::object& user_id) {
        auto r = request_of(dev_eui, profile, meter_ref, actor, reason, key, priority, not_before, deadline, meter_id, user_id);
        auto& svc = s.get();
        return py_command{service_call([&] { return on ? svc.reconnect(r) : svc.disconnect(r); }), std::nullopt};
    };
}

std::vector<py_command> rows(std::vector<st::command_row> v) {
    std::vector<py_command> out;
    out.reserve(v.size());
    for (auto& r : v) out.push_back({std::move(r), std::nullopt});
    return out;
}

} // namespace

void bind_service(py::module_& m) {
    py::class_<st::audit_event>(m, "AuditEvent", "One line of a command's audit trail.")
        .def_readonly("command_id", &st::audit_event::command_id)
        .def_readonly("sequence", &st::audit_event::sequence)
        .def_property_readonly("at", [](const st::audit_event& e) { return to_py_time(e.at); })
        .def_property_readonly("from_state", [](const st::audit_event& e) -> py::object {
            if (!e.from) return py::none();
            return py::str(std::string(cmd::to_string(*e.from)));
        })
        .def_property_readonly("to_state", [](const st::audit_event& e) { return std::string(cmd::to_string(e.to)); })
        .def_readonly("cause", &st::audit_event::cause)
        .def_readonly("actor", &st::audit_event::actor)
        .def_readonly("detail", &st::audit_event::detail)
        .def("to_dict", [](const st::audit_event& e) { return to_py_json(sv::to_json(e)); })
        .def("__repr__", [](const st::audit_event& e) {
            return "<AuditEvent #" + std::to_string(e.command_id) + "." + std::to_string(e.sequence) + " " +
                   (e.from ? std::string(cmd::to_string(*e.from)) : std::string("(new)")) + " -> " + std::string(cmd::to_string(e.to)) +
                   ": " + e.cause + ">";
        });

    py::class_<py_command>(m, "Command", "A relay command and where it is. `events` is its audit trail when fetched with RelayService.command().")
        .def_property_readonly("id", [](const py_command& c) { return c.row.id; })
        .def_property_readonly("dev_eui", [](const py_command& c) { return c.row.dev_eui; })
        .def_property_readonly("meter_ref", [](const py_command& c) { return c.row.meter_ref; })
        .def_property_readonly("meter_id", [](const py_command& c) { return c.row.portal_meter_id; },
                               "The portal's meters.id given with the request (None: not given).")
        .def_property_readonly("user_id", [](const py_command& c) { return c.row.portal_user_id; },
                               "The portal's users.id of who asked (None: not given).")
        .def_property_readonly("portal_row_id", [](const py_command& c) -> std::optional<std::int64_t> {
            if (c.row.portal_row_id == 0) return std::nullopt;
            return c.row.portal_row_id;
        }, "Its row in the portal's command table (device_commands.id), when the store keeps one.")
        .def_property_readonly("profile", [](const py_command& c) { return c.row.profile; })
        .def_property_readonly("kind", [](const py_command& c) { return std::string(st::to_string(c.row.kind)); })
        .def_property_readonly("payload", [](const py_command& c) { return to_py_bytes(c.row.payload); })
        .def_property_readonly("f_port", [](const py_command& c) { return c.row.f_port; })
        .def_property_readonly("confirmed", [](const py_command& c) { return c.row.confirmed; })
        .def_property_readonly("priority", [](const py_command& c) { return c.row.priority; })
        .def_property_readonly("state", [](const py_command& c) { return std::string(cmd::to_string(c.row.rec.current)); })
        .def_property_readonly("portal_status", [](const py_command& c) { return std::string(cmd::portal_status(c.row.rec.current)); },
                               "The state in the portal's device_commands vocabulary (pending, queued, sent, completed, failed, cancelled).")
        .def_property_readonly("terminal", [](const py_command& c) { return cmd::is_terminal(c.row.rec.current); })
        .def_property_readonly("evidence", [](const py_command& c) { return std::string(to_string(c.row.rec.proof)); })
        .def_property_readonly("queue_item_id", [](const py_command& c) { return c.row.rec.queue_item_id; })
        .def_property_readonly("f_cnt_down", [](const py_command& c) { return c.row.rec.f_cnt_down; })
        .def_property_readonly("retry_count", [](const py_command& c) { return c.row.rec.retry_count; })
        .def_property_readonly("max_retries", [](const py_command& c) { return c.row.max_retries; })
        .def_property_readonly("error", [](const py_command& c) { return c.row.rec.error; })
        .def_property_readonly("created_by", [](const py_command& c) { return c.row.created_by; })
        .def_property_readonly("reason", [](const py_command& c) { return c.row.reason; })
        .def_property_readonly("note", [](const py_command& c) { return c.row.note; })
        .def_property_readonly("idempotency_key", [](const py_command& c) { return c.row.idempotency_key; })
        .def_property_readonly("version", [](const py_command& c) { return c.row.version; })
        .def_property_readonly("claim_owner", [](const py_command& c) { return c.row.claim_owner; },
                               "While dispatching: the service instance that claimed it (RelayService(instance=...)).")
        .def_property_readonly("lease_until", [](const py_command& c) { return to_py_time(c.row.lease_until); },
                               "While dispatching: when the claim's lease ends and any instance may reconcile it.")
        .def_property_readonly("created_at", [](const py_command& c) { return to_py_time(c.row.created_at); })
        .def_property_readonly("updated_at", [](const py_command& c) { return to_py_time(c.row.updated_at); })
        .def_property_readonly("not_before", [](const py_command& c) { return to_py_time(c.row.rec.not_before); })
        .def_property_readonly("deadline", [](const py_command& c) { return to_py_time(c.row.rec.deadline); })
        .def_property_readonly("next_attempt_at", [](const py_command& c) { return to_py_time(c.row.rec.next_attempt_at); })
        .def_property_readonly("sent_at", [](const py_command& c) { return to_py_time(c.row.rec.sent_at); })
        .def_property_readonly("completed_at", [](const py_command& c) { return to_py_time(c.row.rec.completed_at); })
        .def_readonly("events", &py_command::events)
        .def("to_dict", [](const py_command& c) {
            auto o = sv::to_json(c.row);
            if (c.events) {
                boost::json::array a;
                for (const auto& e : *c.events) a.push_back(sv::to_json(e));
                o["events"] = std::move(a);
            }
            return to_py_json(o);
        }, "The command as JSON-ready data (camelCase keys, as relayctl --json prints it).")
        .def("__repr__", [](const py_command& c) { return "<Command " + sv::summary_line(c.row) + ">"; });

    py::class_<st::meter_row>(m, "Meter", "A meter as relaylink knows it: its relay state and last uplink.")
        .def_readonly("dev_eui", &st::meter_row::dev_eui)
        .def_readonly("meter_ref", &st::meter_row::meter_ref)
        .def_readonly("profile", &st::meter_row::profile)
        .def_property_readonly("relay_state", [](const st::meter_row& r) { return std::string(st::to_string(r.relay)); },
                               "'unknown', 'connected', 'disconnected' or 'unreachable_after_disconnect'.")
        .def_property_readonly("last_uplink", [](const st::meter_row& r) { return to_py_time(r.last_uplink); })
        .def_readonly("last_confirmed_command", &st::meter_row::last_confirmed_command)
        .def_property_readonly("disconnect_sent_at", [](const st::meter_row& r) { return to_py_time(r.disconnect_sent_at); })
        .def_readonly("note", &st::meter_row::note)
        .def_property_readonly("updated_at", [](const st::meter_row& r) { return to_py_time(r.updated_at); })
        .def("to_dict", [](const st::meter_row& r) { return to_py_json(sv::to_json(r)); })
        .def("__repr__", [](const st::meter_row& r) { return "<Meter " + r.dev_eui + " " + std::string(st::to_string(r.relay)) + ">"; });

    py::class_<sv::command_change>(m, "CommandChange", "What a command subscriber receives.")
        .def_property_readonly("command", [](const sv::command_change& c) { return py_command{c.command, std::nullopt}; })
        .def_property_readonly("from_state", [](const sv::command_change& c) -> py::object {
            // Version 1 is the creation (a command's version is the sequence of its last audit row).
            if (c.command.version == 1) return py::none();
            return py::str(std::string(cmd::to_string(c.from)));
        }, "The state before, or None for a new command.")
        .def_property_readonly("to_state", [](const sv::command_change& c) { return std::string(cmd::to_string(c.command.rec.current)); })
        .def_readonly("cause", &sv::command_change::cause)
        .def("__repr__", [](const sv::command_change& c) {
            return "<CommandChange #" + std::to_string(c.command.id) + " " +
                   (c.command.version == 1 ? std::string("(new)") : std::string(cmd::to_string(c.from))) + " -> " +
                   std::string(cmd::to_string(c.command.rec.current)) + ">";
        });
    py::class_<sv::meter_change>(m, "MeterChange", "What a meter subscriber receives.")
        .def_readonly("meter", &sv::meter_change::meter)
        .def_property_readonly("from_state", [](const sv::meter_change& c) { return std::string(st::to_string(c.from)); })
        .def_property_readonly("to_state", [](const sv::meter_change& c) { return std::string(st::to_string(c.meter.relay)); });

    py::class_<source_handle, std::shared_ptr<source_handle>>(m, "EventSource", "A running event source feeding a RelayService.")
        .def_property_readonly("kind", [](const source_handle& s) { return s.is_mqtt ? "mqtt" : "http"; })
        .def_property_readonly("url", &source_handle::url)
        .def_property_readonly("port", [](const source_handle& s) -> std::optional<unsigned short> {
            if (s.http) return s.http->port();
            return std::nullopt;
        })
        .def_property_readonly("running", [](const source_handle& s) { return !s.released(); },
                               "False once its RelayService has closed.")
        .def_property_readonly("connected", [](const source_handle& s) { return s.mqtt ? s.mqtt->connected() : !s.released(); })
        .def_property_readonly("last_error", [](const source_handle& s) { return s.mqtt ? s.mqtt->last_error() : std::string(); })
        .def("wait_connected", [](const source_handle& s, const py::object& timeout) {
            auto t = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(timeout, "timeout"));
            py::gil_scoped_release nogil;
            return s.mqtt ? s.mqtt->wait_connected(t) : !s.released();
        }, py::arg("timeout") = 10.0, "MQTT: until connected and subscribed; False on timeout.")
        .def("stats", [](const source_handle& s) { return stats_dict(s.stats()); })
        .def("stop", [](source_handle& s) {
            py::gil_scoped_release nogil;
            s.stop();
        });

    // postgres={...}: the PostgreSQL store's settings, each checked and named when wrong.
    auto postgres_of = [](const py::dict& settings) {
        st::postgres_options o;
        for (auto kv : settings) {
            const py::handle k = kv.first, v = kv.second;
            const std::string key = py::str(k);
            const std::string field = "postgres." + key;
            auto bad = [&](const std::string& what) { raise("ConfigError", field + " " + what + ", got " + std::string(py::repr(v)), py::dict(py::arg("field") = field)); };
            auto text = [&]() -> std::string {
                if (!py::isinstance<py::str>(v)) bad("must be a string");
                return v.cast<std::string>();
            };
            auto seconds = [&](long long at_least) {
                std::chrono::seconds d{};
                bool ok = !py::isinstance<py::bool_>(v);
                if (ok) {
                    try {
                        d = std::chrono::duration_cast<std::chrono::seconds>(to_duration(v, field.c_str()));
                    } catch (const std::exception&) {
                        ok = false;
                    }
                }
                if (!ok || d.count() < at_least)
                    bad("must be a number of seconds (at least " + std::to_string(at_least) + ") or a timedelta");
                return d;
            };
            if (key == "schema") o.schema = text();
            else if (key == "pool_size") {
                if (py::isinstance<py::bool_>(v) || !py::isinstance<py::int_>(v)) bad("must be an integer 1-64");
                const long long n = v.cast<long long>();
                if (n < 1 || n > 64) bad("must be 1-64");
                o.pool_size = static_cast<std::size_t>(n);
            } else if (key == "connect_timeout") o.connect_timeout = seconds(1);
            else if (key == "statement_timeout") o.statement_timeout = seconds(0);
            else if (key == "sslmode") o.sslmode = text();
            else if (key == "sslrootcert") o.sslrootcert = text();
            else if (key == "sslcert") o.sslcert = text();
            else if (key == "sslkey") o.sslkey = text();
            else if (key == "application_name") o.application_name = text();
            else
                raise("ConfigError", "postgres has no setting '" + key + "' (schema, pool_size, connect_timeout, statement_timeout, "
                      "sslmode, sslrootcert, sslcert, sslkey, application_name)", py::dict(py::arg("field") = field));
        }
        return o;
    };
    // A PostgreSQL connection string as shown back (RelayService.db, repr): every password replaced by ***,
    // in a URL (user info, ?password=) and in libpq's keyword form (password=… or password='…').
    auto without_password = [](const std::string& url) { return relaylink::redact_dsn(url); };

    py::class_<py_service>(m, "RelayService",
                           "Relay commands with a lifecycle: safety guard, dispatch to ChirpStack, events, retries, expiry, "
                           "cancellation, idempotency and an audit trail, in a SQLite file, a PostgreSQL schema (db='postgresql://…') or "
                           "memory (':memory:').")
        .def(py::init([postgres_of, without_password](const py_client& client, const std::string& db, const py::object& profiles, const py::dict& safety,
                         int max_retries, const py::object& initial_backoff, const py::object& max_backoff, int reply_timeout_intervals,
                         const py::object& default_deadline, long long max_in_flight, const py::object& tick, const py::object& simulator,
                         const py::dict& postgres, const std::string& instance, const py::object& claim_timeout,
                         const std::string& table_prefix, const py::object& portal_table, long long max_batch,
                         int unreachable_after_intervals) {
                 sv::service_config cfg;
                 if (max_batch < 1 || max_batch > 100000)
                     raise("ConfigError", "max_batch must be 1-100000, got " + std::to_string(max_batch), py::dict(py::arg("field") = "max_batch"));
                 cfg.max_batch = static_cast<std::size_t>(max_batch);
                 if (max_retries < 0 || max_retries > 100)
                     raise("ConfigError", "max_retries must be 0-100, got " + std::to_string(max_retries), py::dict(py::arg("field") = "max_retries"));
                 cfg.policy.max_retries = max_retries;
                 cfg.policy.initial_backoff = std::chrono::duration_cast<std::chrono::seconds>(to_duration(initial_backoff, "initial_backoff"));
                 cfg.policy.max_backoff = std::chrono::duration_cast<std::chrono::seconds>(to_duration(max_backoff, "max_backoff"));
                 if (reply_timeout_intervals < 1 || reply_timeout_intervals > 100)
                     raise("ConfigError", "reply_timeout_intervals must be 1-100", py::dict(py::arg("field") = "reply_timeout_intervals"));
                 cfg.policy.reply_timeout_intervals = reply_timeout_intervals;
                 if (unreachable_after_intervals < 1 || unreachable_after_intervals > 1000)
                     raise("ConfigError", "unreachable_after_intervals must be 1-1000, got " + std::to_string(unreachable_after_intervals),
                           py::dict(py::arg("field") = "unreachable_after_intervals"));
                 cfg.unreachable_after_intervals = unreachable_after_intervals;
                 cfg.default_deadline = std::chrono::duration_cast<std::chrono::seconds>(to_duration(default_deadline, "default_deadline"));
                 if (cfg.default_deadline.count() < 1)
                     raise("ConfigError", "default_deadline must be at least 1 second", py::dict(py::arg("field") = "default_deadline"));
                 if (max_in_flight < 1 || max_in_flight > 1024)
                     raise("ConfigError", "max_in_flight must be 1-1024", py::dict(py::arg("field") = "max_in_flight"));
                 cfg.max_in_flight = static_cast<std::size_t>(max_in_flight);
                 cfg.tick = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(tick, "tick"));
                 if (cfg.tick.count() < 1) raise("ConfigError", "tick must be at least 1 ms", py::dict(py::arg("field") = "tick"));
                 cfg.safety = safety_of(safety);
                 cfg.claim_timeout = std::chrono::duration_cast<std::chrono::seconds>(to_duration(claim_timeout, "claim_timeout"));
                 if (cfg.claim_timeout.count() < 1)
                     raise("ConfigError", "claim_timeout must be at least 1 second", py::dict(py::arg("field") = "claim_timeout"));
                 if (instance.size() > 200)
                     raise("ConfigError", "instance must be at most 200 characters", py::dict(py::arg("field") = "instance"));
                 cfg.instance = instance;
                 cfg.log = python_log("service"); // warnings to act on, to the "relaylink" logger
                 auto pg = postgres_of(postgres);
                 st::sqlite_options lite;
                 lite.table_prefix = table_prefix;
                 if (!portal_table.is_none()) {
                     // portal_table={"table": "device_commands", "columns": {"status": "state", "command_data": ""}}
                     auto bad = [](const std::string& field, const std::string& what) {
                         raise("ConfigError", field + " " + what, py::dict(py::arg("field") = field));
                     };
                     if (!py::isinstance<py::dict>(portal_table)) bad("portal_table", "must be a dict: {\"table\": …, \"columns\": {…}}");
                     st::portal_table t;
                     for (auto [k, v] : portal_table.cast<py::dict>()) {
                         const std::string key = py::str(k);
                         if (key == "table") {
                             if (!py::isinstance<py::str>(v)) bad("portal_table.table", "must be a table name, got " + std::string(py::repr(v)));
                             t.table = v.cast<std::string>();
                         } else if (key == "columns") {
                             if (!py::isinstance<py::dict>(v)) bad("portal_table.columns", "must be a dict {key: the portal's column}");
                             for (auto [ck, cv] : v.cast<py::dict>()) {
                                 if (!py::isinstance<py::str>(ck) || !py::isinstance<py::str>(cv))
                                     bad("portal_table.columns", "must map names to names (\"\" leaves an optional one out), got " +
                                                                 std::string(py::repr(ck)) + ": " + std::string(py::repr(cv)));
                                 t.columns[ck.cast<std::string>()] = cv.cast<std::string>();
                             }
                         } else
                             bad("portal_table." + key, "is not a setting (table, columns)");
                     }
                     lite.portal = t;
                     pg.portal = t;
                 }

                 auto registry = profiles.is_none() ? device::profile_registry::with_builtins() : profiles.cast<device::profile_registry>();

                 py_service s;
                 s.client = client.ptr();
                 s.db_path = without_password(db);
                 if (!simulator.is_none()) {
                     s.sim = simulator.cast<const py_sim&>().rt;
                     if (!s.sim) throw py::value_error("the Simulator is stopped");
                     cfg.clock = [rt = s.sim.get()] { return rt->sim.now(); };
                 }
                 {
                     py::gil_scoped_release nogil;
                     try {
                         s.db = st::open_url(db, pg, lite);
                     } catch (const st::store_error& e) {
                         py::gil_scoped_acquire g;
                         raise("StoreError", e.what());
                     }
                 }
                 try {
                     s.svc = std::make_unique<sv::service>(s.client->async().get_executor(), s.client->async(), *s.db, std::move(registry), cfg);
                 } catch (const std::invalid_argument& e) {
                     raise("ConfigError", e.what(), py::dict(py::arg("field") = "safety"));
                 }
                 if (s.sim) {
                     s.sim_feed = std::make_shared<feed>();
                     s.sim_feed->target = s.svc.get();
                     s.sim->sim.on_event([f = s.sim_feed](const sim::event_out& e) {
                         std::lock_guard lk(f->m);
                         if (!f->target) return;
                         if (auto ev = cs::parse_event(e.type, e.json))
                             f->target->post_ingest(std::move(*ev));
                         else
                             ++f->malformed;
                     });
                 }
                 {
                     py::gil_scoped_release nogil;
                     s.svc->start();
                 }
                 return s;
             }),
             py::arg("client"), py::kw_only(), py::arg("db") = "relaylink.db", py::arg("profiles") = py::none(), py::arg("safety") = py::dict(),
             py::arg("max_retries") = 3, py::arg("initial_backoff") = 30.0, py::arg("max_backoff") = 900.0,
             py::arg("reply_timeout_intervals") = 3, py::arg("default_deadline") = 86400.0, py::arg("max_in_flight") = 8,
             py::arg("tick") = 0.2, py::arg("simulator") = py::none(), py::arg("postgres") = py::dict(), py::arg("instance") = "",
             py::arg("claim_timeout") = 120.0, py::arg("table_prefix") = "", py::arg("portal_table") = py::none(),
             py::arg("max_batch") = 512, py::arg("unreachable_after_intervals") = 3)
        .def_property_readonly("db", [](const py_service& s) { return s.db_path; })
        .def_property_readonly("closed", [](const py_service& s) { return !s.svc; })
        .def("close",
             [](py_service& s, const py::object& timeout) {
                 s.close(std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(timeout, "timeout"))); // >= 0
             },
             py::kw_only(), py::arg("timeout") = 5.0,
             "Stop the service, its event sources and the store. Nothing new is sent; ChirpStack calls in flight get up to "
             "`timeout` seconds to finish and be recorded (a call still unanswered then is left to its claim's lease, see "
             "docs/processes.md). Idempotent.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](py_service& s, const py::args&) { s.close(std::chrono::milliseconds(5000)); })
        .def("disconnect", relay_call(false), py::arg("dev_eui"), py::kw_only(), py::arg("profile") = "", py::arg("meter_ref") = "",
             py::arg("actor") = "system", py::arg("reason") = "", py::arg("idempotency_key") = "", py::arg("priority") = 5,
             py::arg("not_before") = py::none(), py::arg("deadline") = py::none(), py::arg("meter_id") = py::none(),
             py::arg("user_id") = py::none(),
             "Relay off, through the safety guard. Returns the command at once: pending, deferred (pending with not_before), "
             "refused (failed, with the reason in `error`), or the one already in flight it duplicates.")
        .def("reconnect", relay_call(true), py::arg("dev_eui"), py::kw_only(), py::arg("profile") = "", py::arg("meter_ref") = "",
             py::arg("actor") = "system", py::arg("reason") = "", py::arg("idempotency_key") = "", py::arg("priority") = 5,
             py::arg("not_before") = py::none(), py::arg("deadline") = py::none(), py::arg("meter_id") = py::none(),
             py::arg("user_id") = py::none(), "Relay on; never blocked by the safety guard.")
        .def("send", [](const py_service& s, const std::string& dev_eui, const std::string& kind, const py::object& payload,
                        std::optional<long long> f_port, const std::string& profile, const std::string& meter_ref, const std::string& actor,
                        const std::string& reason, const std::string& key, int priority, const py::object& not_before,
                        const py::object& deadline, const py::object& meter_id, const py::object& user_id) {
            auto k = st::command_kind_from_name(kind);
            if (!k) raise("RequestError", "kind must be 'relay_off', 'relay_on', 'read' or 'raw', got '" + kind + "'", py::dict(py::arg("field") = "kind"));
            bytes data = payload.is_none() ? bytes{} : to_bytes(payload, "payload");
            std::optional<std::uint8_t> port;
            if (f_port) {
                std::string why;
                if (cs::check_fport(*f_port, &why)) raise("RequestError", why, py::dict(py::arg("field") = "f_port"));
                port = static_cast<std::uint8_t>(*f_port);
            }
            auto r = request_of(dev_eui, profile, meter_ref, actor, reason, key, priority, not_before, deadline, meter_id, user_id);
            auto& svc = s.get();
            return py_command{service_call([&] { return svc.send(r, *k, std::move(data), port); }), std::nullopt};
        }, py::arg("dev_eui"), py::arg("kind"), py::kw_only(), py::arg("payload") = py::none(), py::arg("f_port") = py::none(),
             py::arg("profile") = "", py::arg("meter_ref") = "", py::arg("actor") = "system", py::arg("reason") = "",
             py::arg("idempotency_key") = "", py::arg("priority") = 5, py::arg("not_before") = py::none(), py::arg("deadline") = py::none(),
             py::arg("meter_id") = py::none(), py::arg("user_id") = py::none(),
             "Any intent: 'relay_off', 'relay_on', 'read' (the relay state, when the profile can) or 'raw' (payload on f_port).")
        .def("bulk", [](const py_service& s, const std::string& action, const std::vector<std::string>& dev_euis, const std::string& profile,
                        const std::string& actor, const std::string& reason, const std::string& key_prefix, int priority,
                        const py::object& not_before, const py::object& deadline) {
            if (action != "disconnect" && action != "reconnect")
                raise("RequestError", "action must be 'disconnect' or 'reconnect', got '" + action + "'", py::dict(py::arg("field") = "action"));
            // Every DevEUI is checked before anything is created: a typo in row 9,000 must not leave 8,999 commands behind.
            std::vector<std::string> euis;
            euis.reserve(dev_euis.size());
            for (std::size_t i = 0; i < dev_euis.size(); ++i) {
                std::string why;
                auto e = cs::normalize_dev_eui(dev_euis[i], &why);
                if (!e) raise("RequestError", "dev_euis[" + std::to_string(i) + "]: " + why, py::dict(py::arg("field") = "dev_euis"));
                euis.push_back(*e);
            }
            auto base = request_of("", profile, "", actor, reason, "", priority, not_before, deadline, py::none(), py::none());
            auto& svc = s.get();
            const bool off = action == "disconnect";
            return rows(service_call([&] {
                std::vector<st::command_row> out;
                out.reserve(euis.size());
                for (const auto& e : euis) {
                    sv::request r = base;
                    r.dev_eui = e;
                    if (!key_prefix.empty()) r.idempotency_key = key_prefix + ":" + e;
                    out.push_back(off ? svc.disconnect(r) : svc.reconnect(r));
                }
                return out;
            }));
        }, py::arg("action"), py::arg("dev_euis"), py::kw_only(), py::arg("profile") = "", py::arg("actor") = "system",
             py::arg("reason") = "", py::arg("idempotency_prefix") = "", py::arg("priority") = 5, py::arg("not_before") = py::none(),
             py::arg("deadline") = py::none(),
             "Disconnect or reconnect many meters in one call (one GIL release). Every DevEUI is checked first. With "
             "idempotency_prefix, each command's key is '<prefix>:<devEui>', so running the same bulk twice creates nothing new.")
        .def("cancel", [](const py_service& s, std::int64_t id, const std::string& actor, const std::string& reason) -> std::optional<py_command> {
            auto& svc = s.get();
            auto r = service_call([&] { return svc.cancel(id, actor, reason); });
            if (!r) return std::nullopt;
            return py_command{std::move(*r), std::nullopt};
        }, py::arg("command_id"), py::kw_only(), py::arg("actor") = "system", py::arg("reason") = "",
             "Cancel: locally when not yet sent, by flushing the device queue when queued. None when unknown; a command "
             "already on the radio is not cancelled (its audit trail says so).")
        .def("command", [](const py_service& s, std::int64_t id) -> std::optional<py_command> {
            auto& svc = s.get();
            auto v = service_call([&] { return svc.command(id); });
            if (!v) return std::nullopt;
            return py_command{std::move(v->command), std::move(v->events)};
        }, py::arg("command_id"), "The command with its audit trail (`events`), or None.")
        .def("history", [](const py_service& s, const std::string& dev_eui, std::size_t limit) {
            auto& svc = s.get();
            return rows(service_call([&] { return svc.history(dev_eui, limit); }));
        }, py::arg("dev_eui"), py::arg("limit") = 100, "A meter's commands, newest first.")
        .def("open_commands", [](const py_service& s) {
            auto& svc = s.get();
            return rows(service_call([&] { return svc.open_commands(); }));
        })
        .def("meter", [](const py_service& s, const std::string& dev_eui) {
            auto& svc = s.get();
            return service_call([&] { return svc.meter(dev_eui); });
        }, py::arg("dev_eui"))
        .def("track_meter", [](const py_service& s, const std::string& dev_eui, const std::string& profile, const std::string& meter_ref) {
            auto& svc = s.get();
            return service_call([&] { return svc.track_meter(dev_eui, profile, meter_ref); });
        }, py::arg("dev_eui"), py::kw_only(), py::arg("profile") = "", py::arg("meter_ref") = "",
             "Keep a meter for this device before any command: its last uplink and relay state. relaylink keeps meters "
             "only for devices it was commanded or told to track; uplinks of others leave nothing (stats()['uplinks_untracked']). "
             "RequestError for a bad DevEUI, an unknown profile or a bad reference.")
        .def("meters", [](const py_service& s, std::optional<std::string> relay_state) {
            std::optional<st::relay_state> only;
            if (relay_state) {
                only = st::relay_state_from_name(*relay_state);
                if (!only)
                    throw py::value_error("relay_state must be 'unknown', 'connected', 'disconnected' or "
                                          "'unreachable_after_disconnect', got '" + *relay_state + "'");
            }
            auto& svc = s.get();
            return service_call([&] { return svc.meters(only); });
        }, py::arg("relay_state") = py::none())
        .def("counts", [](const py_service& s) {
            auto& svc = s.get();
            auto c = service_call([&] { return svc.counts(); });
            py::dict d;
            for (auto st : cmd::all_states) d[py::str(std::string(cmd::to_string(st)))] = c.count(st) ? c.at(st) : 0;
            return d;
        }, "How many commands are in each state.")
        .def("stats", [](const py_service& s) {
            auto x = s.get().stats();
            py::dict d;
            d["commands_created"] = x.commands_created;
            d["duplicates_returned"] = x.duplicates_returned;
            d["refused"] = x.refused;
            d["deferred"] = x.deferred;
            d["enqueues"] = x.enqueues;
            d["enqueue_failures"] = x.enqueue_failures;
            d["flushes"] = x.flushes;
            d["reconciliations"] = x.reconciliations;
            d["events"] = x.events;
            d["transitions"] = x.transitions;
            d["ignored"] = x.ignored;
            d["uplinks_unmatched"] = x.uplinks_unmatched;
            d["uplinks_untracked"] = x.uplinks_untracked;
            d["conflicts"] = x.conflicts;
            d["claims_skipped"] = x.claims_skipped;
            d["commits"] = x.commits;
            d["unobserved_downlinks"] = x.unobserved_downlinks;
            d["device_op_failures"] = x.device_op_failures;
            d["rejoins"] = x.rejoins;
            d["gateway_errors"] = x.gateway_errors;
            d["replays_ignored"] = x.replays_ignored;
            d["store_errors"] = x.store_errors;
            d["last_store_error"] = x.last_store_error;
            return d;
        })
        .def("ingest", [](const py_service& s, const cs::event& e) {
            auto& svc = s.get();
            service_call([&] { svc.ingest(e); });
        }, py::arg("event"), "Apply one event now (an event from parse_event).")
        .def("ingest", [](const py_service& s, const std::string& event_type, const py::object& payload) {
            const std::string text = payload_text(payload, "payload");
            auto& svc = s.get();
            auto r = service_call([&] { return cs::parse_event(event_type, text); });
            if (!r) raise("EventError", r.error().message, py::dict(py::arg("field") = r.error().field));
            service_call([&] { svc.ingest(*r); });
        }, py::arg("event_type"), py::arg("payload"), "Apply one event from ChirpStack's JSON (EventError when unreadable).")
        .def("ingest_batch", [](const py_service& s, const std::vector<py::object>& events) {
            // Read every item first (the GIL held), parse them all without it: one unreadable item refuses
            // the whole call before anything is applied.
            struct item {
                std::optional<cs::event> parsed;
                std::string type, text;
            };
            std::vector<item> items(events.size());
            for (std::size_t i = 0; i < items.size(); ++i) {
                const py::object x = events[i];
                if (py::isinstance<py::tuple>(x) || py::isinstance<py::list>(x)) {
                    const py::sequence pair = x;
                    if (py::len(pair) != 2)
                        throw py::type_error("events[" + std::to_string(i) + "]: a pair (event_type, payload) has 2 items, this has " +
                                             std::to_string(py::len(pair)));
                    if (!py::isinstance<py::str>(pair[0]))
                        throw py::type_error("events[" + std::to_string(i) + "]: the event type must be a str such as 'up'");
                    items[i].type = pair[0].cast<std::string>();
                    items[i].text = payload_text(pair[1], ("events[" + std::to_string(i) + "] payload").c_str());
                } else {
                    try {
                        items[i].parsed = x.cast<cs::event>();
                    } catch (const py::cast_error&) {
                        throw py::type_error("events[" + std::to_string(i) + "]: expected an event from parse_event or a pair "
                                             "(event_type, payload), got " + std::string(py::str(py::type::of(x).attr("__name__"))));
                    }
                }
            }
            std::vector<cs::event> parsed;
            parsed.reserve(items.size());
            std::optional<std::pair<std::size_t, relaylink::field_error>> bad;
            {
                py::gil_scoped_release nogil;
                for (std::size_t i = 0; i < items.size() && !bad; ++i) {
                    if (items[i].parsed) {
                        parsed.push_back(std::move(*items[i].parsed));
                        continue;
                    }
                    auto r = cs::parse_event(items[i].type, items[i].text);
                    if (!r) bad.emplace(i, r.error());
                    else parsed.push_back(std::move(*r));
                }
            }
            if (bad)
                raise("EventError", "events[" + std::to_string(bad->first) + "]: " + bad->second.message + " (nothing was applied)",
                      py::dict(py::arg("field") = bad->second.field, py::arg("index") = bad->first));
            auto& svc = s.get();
            return service_call([&] {
                const std::size_t step = std::max<std::size_t>(1, svc.settings().max_batch);
                std::size_t applied = 0;
                try {
                    for (; applied < parsed.size();) {
                        const std::size_t n = std::min(step, parsed.size() - applied);
                        svc.ingest(std::span<const cs::event>(parsed.data() + applied, n));
                        applied += n;
                    }
                } catch (const st::store_error& e) {
                    throw st::store_error(std::to_string(applied) + " of " + std::to_string(parsed.size()) +
                                          " events were applied (in transactions of max_batch) before this: " + e.what());
                }
                return applied;
            });
        }, py::arg("events"),
             "Apply many events at once: each an event from parse_event or a pair (event_type, payload) of ChirpStack's JSON, "
             "committed in transactions of max_batch (PostgreSQL: a few round trips each). An unreadable item raises "
             "EventError (its `index`) before anything is applied. Returns how many were applied.")
        .def("post", [](const py_service& s, const cs::event& e) {
            s.get().post_ingest(e);
        }, py::arg("event"), "Queue an event: the service commits queued events in batches on its thread.")
        .def_property_readonly("pending_events", [](const py_service& s) { return s.get().pending_events(); })
        .def("poll", [](const py_service& s) {
            auto& svc = s.get();
            service_call([&] { svc.poll(); });
        }, "Run what is due now (the service's timer does this every `tick`).")
        .def("subscribe", [](const py_service& s, py::function f, const std::string& what) {
            held h(std::move(f));
            auto& svc = s.get();
            if (what == "commands")
                return svc.on_command([h](const sv::command_change& c) { call_from_cpp(h, "RelayService subscriber", c); });
            if (what == "meters")
                return svc.on_meter([h](const sv::meter_change& c) { call_from_cpp(h, "RelayService subscriber", c); });
            throw py::value_error("what must be 'commands' or 'meters', got '" + what + "'");
        }, py::arg("callback"), py::kw_only(), py::arg("what") = "commands",
             "callback(CommandChange) for every command change (or MeterChange with what='meters'), called on the service's "
             "thread without its lock. Returns a token for unsubscribe(). An exception in the callback is logged.")
        .def("unsubscribe", [](const py_service& s, std::uint64_t token) { s.get().unsubscribe(token); }, py::arg("token"))
        .def("wait", [](const py_service& s, std::int64_t id, const std::optional<std::vector<std::string>>& states, const py::object& timeout) {
            std::vector<cmd::state> want;
            if (states)
                for (const auto& x : *states) want.push_back(state_of(x));
            auto done = [&](cmd::state st) {
                return want.empty() ? cmd::is_terminal(st) : std::find(want.begin(), want.end(), st) != want.end();
            };
            const auto limit = to_duration(timeout, "timeout");
            auto& svc = s.get();
            struct waiter {
                std::mutex m;
                std::condition_variable cv;
                std::uint64_t changes = 0;
            };
            auto w = std::make_shared<waiter>();
            const auto token = svc.on_command([w, id](const sv::command_change& c) {
                if (c.command.id != id) return;
                std::lock_guard lk(w->m);
                ++w->changes;
                w->cv.notify_all();
            });
            const auto until = std::chrono::steady_clock::now() + limit;
            std::optional<sv::command_view> v;
            for (;;) {
                v = service_call([&] { return svc.command(id); });
                if (!v) {
                    svc.unsubscribe(token);
                    throw py::value_error("no command " + std::to_string(id));
                }
                if (done(v->command.rec.current) || std::chrono::steady_clock::now() >= until) break;
                {
                    py::gil_scoped_release nogil;
                    std::unique_lock lk(w->m);
                    const auto seen = w->changes;
                    w->cv.wait_until(lk, std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)),
                                     [&] { return w->changes != seen; });
                }
                if (PyErr_CheckSignals() != 0) { // Ctrl-C while waiting
                    svc.unsubscribe(token);
                    throw py::error_already_set();
                }
            }
            svc.unsubscribe(token);
            return py_command{std::move(v->command), std::move(v->events)};
        }, py::arg("command_id"), py::kw_only(), py::arg("states") = py::none(), py::arg("timeout") = 60.0,
             "Block (without the GIL) until the command reaches one of `states` (default: any terminal state) or the "
             "timeout passes; returns the command as it is then, with its audit trail.")
        .def("listen_mqtt", [](py_service& s, const std::string& url, const std::string& topic, const std::string& client_id,
                               const std::string& shared_group, int qos, bool clean_session, const std::string& username,
                               const std::string& password, const std::string& ca_file, const std::string& cert_file,
                               const std::string& key_file, bool verify, std::size_t max_pending) {
            ing::mqtt_config c;
            c.url = url;
            c.topic = topic;
            c.client_id = client_id;
            c.shared_group = shared_group;
            c.qos = qos;
            c.clean_session = clean_session;
            c.username = username;
            c.password = password;
            c.ca_file = ca_file;
            c.cert_file = cert_file;
            c.key_file = key_file;
            c.verify = verify;
            c.log = python_log("mqtt");
            auto& svc = s.get();
            auto h = std::make_shared<source_handle>();
            h->is_mqtt = true;
            try {
                h->mqtt = std::make_unique<ing::mqtt_source>(std::move(c), ing::to_service(svc, max_pending));
            } catch (const std::invalid_argument& e) {
                raise("ConfigError", e.what(), py::dict(py::arg("field") = "mqtt"));
            }
            {
                py::gil_scoped_release nogil;
                h->mqtt->start();
            }
            s.sources.push_back(h);
            return h;
        }, py::arg("url"), py::kw_only(), py::arg("topic") = "application/+/device/+/event/+", py::arg("client_id") = "",
             py::arg("shared_group") = "", py::arg("qos") = 1, py::arg("clean_session") = false, py::arg("username") = "",
             py::arg("password") = "", py::arg("ca_file") = "", py::arg("cert_file") = "", py::arg("key_file") = "",
             py::arg("verify") = true, py::arg("max_pending") = 4096,
             "Feed the service from ChirpStack's MQTT integration (QoS 1; reconnects by itself). With a client_id you name "
             "(unique to this process, stable across restarts) the session is persistent unless clean_session; without one, "
             "a name unique to this process and a clean session. ChirpStack must publish at QoS 1 too (qos = 1 under "
             "[integration.mqtt]) for events published while relaylink is away to be kept. Returns at once; "
             "EventSource.wait_connected() waits for the subscription.")
        .def("serve_http_integration", [](py_service& s, const std::string& address, long long port, const std::string& path,
                                          const std::string& secret, const std::string& secret_header, std::size_t max_pending) {
            if (max_pending == 0) raise("ConfigError", "max_pending must be at least 1: the HTTP integration answers 503 beyond it", py::dict(py::arg("field") = "max_pending"));
            ing::http_integration_config c;
            c.address = address;
            if (port < 0 || port > 65535) raise("ConfigError", "port must be 0-65535, got " + std::to_string(port), py::dict(py::arg("field") = "port"));
            c.port = static_cast<unsigned short>(port);
            c.path = path;
            c.secret = secret;
            c.secret_header = secret_header;
            c.log = python_log("http-integration");
            auto& svc = s.get();
            auto h = std::make_shared<source_handle>();
            try {
                h->http = std::make_unique<ing::http_integration>(s.client->async().get_executor(), std::move(c), ing::to_service(svc, max_pending, ing::when_full::refuse));
                h->http->start();
            } catch (const std::invalid_argument& e) {
                raise("ConfigError", e.what(), py::dict(py::arg("field") = "http_integration"));
            } catch (const std::system_error& e) {
                raise("ConfigError", "cannot listen on " + address + ":" + std::to_string(port) + ": " + e.what(), py::dict(py::arg("field") = "port"));
            }
            s.sources.push_back(h);
            return h;
        }, py::kw_only(), py::arg("address") = "127.0.0.1", py::arg("port") = 0, py::arg("path") = "/", py::arg("secret") = "",
             py::arg("secret_header") = "X-Relaylink-Secret", py::arg("max_pending") = 10000,
             "Serve ChirpStack's HTTP integration (POST <path>?event=...) and feed the service. Returns the EventSource "
             "(its url and port). While the service holds max_pending events not yet committed (the store is slow or "
             "failing) an event is answered 503 with Retry-After, never waited for (stats()['full'] counts them).")
        .def("__repr__", [](const py_service& s) {
            return std::string("<RelayService ") + (s.svc ? s.db_path : std::string("closed")) + ">";
        });
}

} // namespace relaylink::python
