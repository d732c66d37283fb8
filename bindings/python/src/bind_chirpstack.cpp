// relaylink.ChirpStackClient: the C++ REST client (keep-alive pool, validation, retries of idempotent
// calls, TLS) behind blocking calls that release the GIL, and asyncio awaitables.
#include "bindings.hpp"
#include "chirpstack_error.hpp"
#include "handles.hpp"

#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/chirpstack/validate.hpp>

#include <boost/asio/error.hpp>
#include <boost/json/serialize.hpp>

namespace relaylink::python {

namespace cs = relaylink::chirpstack;

std::string chirpstack_error_name(const error_code& ec) {
    static constexpr const char* names[] = {"",
                                            "invalid_dev_eui",
                                            "invalid_fport",
                                            "invalid_payload",
                                            "expires_in_past",
                                            "invalid_argument",
                                            "invalid_config",
                                            "timeout",
                                            "tls_error",
                                            "response_too_large",
                                            "malformed_response",
                                            "bad_request",
                                            "unauthenticated",
                                            "permission_denied",
                                            "not_found",
                                            "already_exists",
                                            "rate_limited",
                                            "server_error",
                                            "not_implemented",
                                            "unavailable",
                                            "gateway_timeout",
                                            "http_error"};
    static_assert(std::size(names) == static_cast<std::size_t>(cs::errc::http_error) + 1);
    if (ec.category() == cs::error_category() && ec.value() > 0 && ec.value() < static_cast<int>(std::size(names)))
        return names[ec.value()];
    namespace ae = boost::asio::error;
    if (ec == ae::connection_refused) return "connection_refused";
    if (ec == ae::connection_reset || ec == ae::connection_aborted || ec == ae::broken_pipe || ec == ae::eof) return "connection_reset";
    if (ec == ae::host_not_found || ec == ae::host_not_found_try_again) return "host_not_found";
    if (ec == ae::timed_out) return "timeout";
    if (ec == ae::network_unreachable || ec == ae::host_unreachable || ec == ae::network_down) return "unreachable";
    if (ec == ae::operation_aborted) return "cancelled";
    return "transport_error";
}

py::object make_chirpstack_error(const error_code& ec, const cs::diagnostics& d) {
    py::dict attrs(py::arg("code") = chirpstack_error_name(ec), py::arg("http_status") = d.http_status,
                   py::arg("grpc_code") = d.grpc_code, py::arg("request_sent") = d.request_sent,
                   py::arg("attempts") = d.attempts, py::arg("transient") = cs::is_transient(ec),
                   py::arg("server_message") = d.server_message, py::arg("detail") = d.message);
    return py_cache().errors.attr("ChirpStackError")(cs::api_error::describe(ec, d), **attrs);
}

namespace {

cs::method method_of(std::string m) {
    for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (m == "GET") return cs::method::get;
    if (m == "POST") return cs::method::post;
    if (m == "PUT") return cs::method::put;
    if (m == "DELETE") return cs::method::del;
    throw py::value_error("method must be GET, POST, PUT or DELETE, got '" + m + "'");
}

std::string path_of(const std::string& p) {
    if (p.empty() || p[0] != '/') throw py::value_error("path must start with '/' (e.g. '/api/applications?limit=10'), got '" + p + "'");
    for (char ch : p)
        if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f)
            throw py::value_error("path must not contain spaces or control characters (percent-encode them): '" + p + "'");
    return p;
}

cs::enqueue_request enqueue_of(const py_client& self, const py::handle& data, std::optional<long long> f_port, bool confirmed,
                               const py::handle& expires_at, bool flush) {
    cs::enqueue_request r;
    r.data = to_bytes(data, "data");
    const long long port = f_port ? *f_port : self.get().settings().passthrough_port;
    std::string why;
    if (auto ec = cs::check_fport(port, &why)) {
        cs::diagnostics d;
        d.message = why;
        raise_instance(make_chirpstack_error(ec, d));
    }
    r.f_port = static_cast<std::uint8_t>(port);
    r.confirmed = confirmed;
    r.expires_at = to_opt_sys_time(expires_at, "expires_at");
    r.flush_queue = flush;
    return r;
}

/// Run a blocking call without the GIL; an api_error becomes ChirpStackError.
template <class F>
auto blocking(F&& f) {
    try {
        py::gil_scoped_release nogil;
        return f();
    } catch (const cs::api_error& e) {
        raise_instance(make_chirpstack_error(e.code(), e.details()));
    }
}


/// Settles an asyncio future from a C++ completion handler. If the handler is destroyed without
/// being called (the client was closed with the call in flight), the future gets a ChirpStackError
/// "cancelled" instead of waiting for ever.
struct pending_call {
    async_result res;
    chirpstack::diagnostics diag;
    bool settled = false;

    template <class Make>
    void complete(error_code ec, Make&& make) {
        settled = true;
        res.resolve([&]() -> py::object {
            if (ec) throw_chirpstack(ec);
            return make();
        });
    }
    [[noreturn]] void throw_chirpstack(const error_code& ec) {
        raise_instance(make_chirpstack_error(ec, diag));
    }
    ~pending_call() {
        if (settled || !Py_IsInitialized()) return;
        diag.message = "the ChirpStackClient was closed before the call completed";
        res.resolve([&]() -> py::object { throw_chirpstack(boost::asio::error::operation_aborted); });
    }
};

/// Start an async call of the C++ client; its result settles an asyncio future.
template <class... T, class Start, class Convert>
py::object start_async(Start&& start, Convert convert) {
    auto call = std::make_shared<pending_call>();
    py::object fut = call->res.future();
    {
        py::gil_scoped_release nogil;
        start(call->diag, [call, convert](error_code ec, T... v) { call->complete(ec, [&] { return convert(std::move(v)...); }); });
    }
    return fut;
}

} // namespace

void bind_chirpstack(py::module_& m) {
    m.def("normalize_dev_eui", &checked_eui, py::arg("dev_eui"), "16 lower-case hex digits, or ValueError saying what is wrong.");

    py::class_<cs::queue_item>(m, "QueueItem", "One item of a device's downlink queue.")
        .def_readonly("id", &cs::queue_item::id)
        .def_readonly("dev_eui", &cs::queue_item::dev_eui)
        .def_readonly("confirmed", &cs::queue_item::confirmed)
        .def_readonly("f_port", &cs::queue_item::f_port)
        .def_property_readonly("data", [](const cs::queue_item& q) { return to_py_bytes(q.data); })
        .def_readonly("is_pending", &cs::queue_item::is_pending)
        .def_readonly("f_cnt_down", &cs::queue_item::f_cnt_down)
        .def_readonly("is_encrypted", &cs::queue_item::is_encrypted)
        .def_property_readonly("expires_at", [](const cs::queue_item& q) { return to_py_time(q.expires_at); })
        .def("__repr__", [](const cs::queue_item& q) {
            return "QueueItem(id='" + q.id + "', f_port=" + std::to_string(q.f_port) + ", data=bytes.fromhex('" + to_hex(q.data) +
                   "'), is_pending=" + (q.is_pending ? "True" : "False") + ")";
        });

    py::class_<cs::device>(m, "Device", "A device as ChirpStack describes it (GET /api/devices/{devEui}).")
        .def_readonly("dev_eui", &cs::device::dev_eui)
        .def_readonly("name", &cs::device::name)
        .def_readonly("description", &cs::device::description)
        .def_readonly("application_id", &cs::device::application_id)
        .def_readonly("device_profile_id", &cs::device::device_profile_id)
        .def_readonly("skip_fcnt_check", &cs::device::skip_fcnt_check)
        .def_readonly("is_disabled", &cs::device::is_disabled)
        .def_readonly("join_eui", &cs::device::join_eui)
        .def_readonly("tags", &cs::device::tags)
        .def_readonly("variables", &cs::device::variables)
        .def_property_readonly("created_at", [](const cs::device& d) { return to_py_time(d.created_at); })
        .def_property_readonly("updated_at", [](const cs::device& d) { return to_py_time(d.updated_at); })
        .def_property_readonly("last_seen_at", [](const cs::device& d) { return to_py_time(d.last_seen_at); })
        .def_property_readonly("margin", [](const cs::device& d) -> std::optional<int> {
            if (!d.status) return std::nullopt;
            return d.status->margin;
        })
        .def_property_readonly("battery_level", [](const cs::device& d) -> std::optional<double> {
            if (!d.status) return std::nullopt;
            return d.status->battery_level;
        })
        .def_property_readonly("external_power_source", [](const cs::device& d) -> std::optional<bool> {
            if (!d.status) return std::nullopt;
            return d.status->external_power_source;
        })
        .def_readonly("class_enabled", &cs::device::class_enabled)
        .def("__repr__", [](const cs::device& d) { return "Device(dev_eui='" + d.dev_eui + "', name='" + d.name + "')"; });

    py::class_<py_client>(m, "ChirpStackClient",
                          "ChirpStack v4 REST client: keep-alive connections, arguments checked before sending, idempotent "
                          "calls retried on transient errors. Blocking calls release the GIL; each has an `_async` twin "
                          "returning an awaitable for asyncio. Failures raise ChirpStackError.")
        .def(py::init([](const std::string& url, const std::string& api_key, const std::string& tenant_id, long long passthrough_port,
                         const std::string& auth_header, const py::object& connect_timeout, const py::object& request_timeout,
                         const py::object& idle_timeout, long long pool_size, long long max_attempts, bool verify_tls,
                         const std::string& ca_file, const std::map<std::string, std::string>& headers, const std::string& user_agent,
                         bool retry_timeouts) {
                 cs::config c;
                 c.url = url;
                 c.api_key = api_key;
                 c.tenant_id = tenant_id;
                 if (passthrough_port < 1 || passthrough_port > 223)
                     raise("ConfigError", "passthrough_port must be an fPort 1-223, got " + std::to_string(passthrough_port),
                           py::dict(py::arg("field") = "passthrough_port"));
                 c.passthrough_port = static_cast<std::uint8_t>(passthrough_port);
                 if (auth_header == "grpc-metadata")
                     c.header = cs::auth_header::grpc_metadata;
                 else if (auth_header == "authorization")
                     c.header = cs::auth_header::authorization;
                 else
                     raise("ConfigError", "auth_header must be 'grpc-metadata' or 'authorization', got '" + auth_header + "'",
                           py::dict(py::arg("field") = "auth_header"));
                 auto ms = [](const py::object& o, const char* what) {
                     auto d = std::chrono::duration_cast<std::chrono::milliseconds>(to_duration(o, what));
                     if (d.count() <= 0) raise("ConfigError", std::string(what) + " must be positive", py::dict(py::arg("field") = what));
                     return d;
                 };
                 c.connect_timeout = ms(connect_timeout, "connect_timeout");
                 c.request_timeout = ms(request_timeout, "request_timeout");
                 c.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(ms(idle_timeout, "idle_timeout"));
                 if (pool_size < 1 || pool_size > 1024)
                     raise("ConfigError", "pool_size must be 1-1024, got " + std::to_string(pool_size), py::dict(py::arg("field") = "pool_size"));
                 c.pool_size = static_cast<std::size_t>(pool_size);
                 if (max_attempts < 1 || max_attempts > 100)
                     raise("ConfigError", "max_attempts must be 1-100, got " + std::to_string(max_attempts),
                           py::dict(py::arg("field") = "max_attempts"));
                 c.retry.max_attempts = static_cast<int>(max_attempts);
                 c.retry.retry_timeouts = retry_timeouts;
                 c.verify_tls = verify_tls;
                 c.ca_file = ca_file;
                 for (const auto& [k, v] : headers) c.headers.emplace_back(k, v);
                 c.user_agent = user_agent;
                 try {
                     return py_client{std::make_shared<cs::sync_client>(std::move(c))};
                 } catch (const relaylink::config_error& e) { // names the setting it refuses
                     raise("ConfigError", e.what(), py::dict(py::arg("field") = e.field()));
                 }
             }),
             py::kw_only(), py::arg("url") = "http://localhost:8090", py::arg("api_key") = "", py::arg("tenant_id") = "",
             py::arg("passthrough_port") = 5, py::arg("auth_header") = "grpc-metadata", py::arg("connect_timeout") = 5.0,
             py::arg("request_timeout") = 10.0, py::arg("idle_timeout") = 30.0, py::arg("pool_size") = 8,
             py::arg("max_attempts") = 3, py::arg("verify_tls") = true, py::arg("ca_file") = "",
             py::arg("headers") = std::map<std::string, std::string>{}, py::arg("user_agent") = "relaylink-python/0.1",
             py::arg("retry_timeouts") = true)
        .def_property_readonly("url", [](py_client& s) { return s.get().settings().url; })
        .def_property_readonly("tenant_id", [](py_client& s) { return s.get().settings().tenant_id; })
        .def_property_readonly("passthrough_port", [](py_client& s) { return s.get().settings().passthrough_port; })
        .def_property_readonly("has_api_key", [](py_client& s) { return !s.get().settings().api_key.empty(); })
        .def_property_readonly("closed", [](const py_client& s) { return !s.c; })
        .def("enqueue", [](py_client& s, const std::string& dev_eui, const py::handle& data, std::optional<long long> f_port, bool confirmed,
                           const py::handle& expires_at, bool flush_queue) {
            auto req = enqueue_of(s, data, f_port, confirmed, expires_at, flush_queue);
            auto c = s.ptr();
            return blocking([&] { return c->enqueue(dev_eui, req); });
        }, py::arg("dev_eui"), py::arg("data"), py::kw_only(), py::arg("f_port") = py::none(), py::arg("confirmed") = false,
             py::arg("expires_at") = py::none(), py::arg("flush_queue") = false,
             "Queue a downlink (never retried: see ChirpStackError.request_sent); returns ChirpStack's queue item id. "
             "f_port defaults to the pass-through port.")
        .def("get_queue", [](py_client& s, const std::string& dev_eui) { auto c = s.ptr();
            return blocking([&] { return c->get_queue(dev_eui); }); },
             py::arg("dev_eui"))
        .def("flush_queue", [](py_client& s, const std::string& dev_eui) { auto c = s.ptr();
            blocking([&] { c->flush_queue(dev_eui); }); },
             py::arg("dev_eui"))
        .def("get_device", [](py_client& s, const std::string& dev_eui) { auto c = s.ptr();
            return blocking([&] { return c->get_device(dev_eui); }); },
             py::arg("dev_eui"))
        .def("get_next_f_cnt_down", [](py_client& s, const std::string& dev_eui) {
            auto c = s.ptr();
            return blocking([&] { return c->get_next_f_cnt_down(dev_eui); });
        }, py::arg("dev_eui"))
        .def("request", [](py_client& s, const std::string& method, const std::string& path, const py::object& body) {
            const auto mth = method_of(method);
            const auto target = path_of(path);
            std::optional<boost::json::value> b;
            if (!body.is_none()) b = to_json_value(body, "body");
            auto c = s.ptr();
            auto v = blocking([&] { return c->request(mth, target, std::move(b)); });
            return to_py_json(v);
        }, py::arg("method"), py::arg("path"), py::arg("body") = py::none(),
             "Any REST call ('GET', '/api/applications?limit=10'), JSON in and out.")
        .def("enqueue_async", [](py_client& s, const std::string& dev_eui, const py::handle& data, std::optional<long long> f_port,
                                 bool confirmed, const py::handle& expires_at, bool flush_queue) {
            auto req = enqueue_of(s, data, f_port, confirmed, expires_at, flush_queue);
            auto& c = s.get().async();
            return start_async<std::string>([&](cs::diagnostics& d, auto h) { c.async_enqueue(dev_eui, std::move(req), d, std::move(h)); },
                                            [](std::string id) -> py::object { return py::str(id); });
        }, py::arg("dev_eui"), py::arg("data"), py::kw_only(), py::arg("f_port") = py::none(), py::arg("confirmed") = false,
             py::arg("expires_at") = py::none(), py::arg("flush_queue") = false)
        .def("get_queue_async", [](py_client& s, const std::string& dev_eui) {
            auto& c = s.get().async();
            return start_async<std::vector<cs::queue_item>>([&](cs::diagnostics& d, auto h) { c.async_get_queue(dev_eui, d, std::move(h)); },
                                                            [](std::vector<cs::queue_item> v) -> py::object { return py::cast(std::move(v)); });
        }, py::arg("dev_eui"))
        .def("flush_queue_async", [](py_client& s, const std::string& dev_eui) {
            auto& c = s.get().async();
            return start_async<>([&](cs::diagnostics& d, auto h) { c.async_flush_queue(dev_eui, d, std::move(h)); },
                                 []() -> py::object { return py::none(); });
        }, py::arg("dev_eui"))
        .def("get_device_async", [](py_client& s, const std::string& dev_eui) {
            auto& c = s.get().async();
            return start_async<cs::device>([&](cs::diagnostics& d, auto h) { c.async_get_device(dev_eui, d, std::move(h)); },
                                           [](cs::device v) -> py::object { return py::cast(std::move(v)); });
        }, py::arg("dev_eui"))
        .def("get_next_f_cnt_down_async", [](py_client& s, const std::string& dev_eui) {
            auto& c = s.get().async();
            return start_async<std::uint32_t>([&](cs::diagnostics& d, auto h) { c.async_get_next_f_cnt_down(dev_eui, d, std::move(h)); },
                                              [](std::uint32_t v) -> py::object { return py::int_(v); });
        }, py::arg("dev_eui"))
        .def("request_async", [](py_client& s, const std::string& method, const std::string& path, const py::object& body) {
            const auto mth = method_of(method);
            auto target = path_of(path);
            std::optional<boost::json::value> b;
            if (!body.is_none()) b = to_json_value(body, "body");
            auto& c = s.get().async();
            return start_async<boost::json::value>(
                [&](cs::diagnostics& d, auto h) { c.async_request(mth, std::move(target), std::move(b), d, std::move(h)); },
                [](boost::json::value v) -> py::object { return to_py_json(v); });
        }, py::arg("method"), py::arg("path"), py::arg("body") = py::none())
        .def("stats", [](py_client& s) {
            auto st = s.get().stats();
            py::dict d;
            d["requests"] = st.requests;
            d["connections_opened"] = st.connections_opened;
            d["connections_reused"] = st.connections_reused;
            d["retries"] = st.retries;
            d["stale_discarded"] = st.stale_discarded;
            return d;
        }, "Counters: requests, connections_opened, connections_reused, retries, stale_discarded.")
        .def("close", [](py_client& s) { s.close(); }, "Close the connections and stop the client's thread. Idempotent.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](py_client& s, const py::args&) { s.close(); })
        .def("__repr__", [](const py_client& s) {
            if (!s.c) return std::string("<ChirpStackClient closed>");
            const auto& c = s.c->settings();
            return "<ChirpStackClient " + c.url + (c.tenant_id.empty() ? "" : " tenant=" + c.tenant_id) +
                   (c.api_key.empty() ? " (no API key)" : " (API key set)") + ">";
        });
}

} // namespace relaylink::python
