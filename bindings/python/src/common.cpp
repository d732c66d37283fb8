#include "common.hpp"

#include <relaylink/chirpstack/validate.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace relaylink::python {

cache& py_cache() {
    static cache* c = new cache; // never freed: see the struct's comment
    return *c;
}

void init_cache() {
    cache& c = py_cache();
    py::module_ dt = py::module_::import("datetime");
    c.datetime = dt.attr("datetime");
    c.timedelta = dt.attr("timedelta");
    c.utc = dt.attr("timezone").attr("utc");
    c.epoch = c.datetime(1970, 1, 1, py::arg("tzinfo") = c.utc);
    py::module_ json = py::module_::import("json");
    c.json_loads = json.attr("loads");
    c.json_dumps = json.attr("dumps");
    c.logger = py::module_::import("logging").attr("getLogger")("relaylink");
    c.errors = py::module_::import("relaylink._errors");
}

bytes to_bytes(const py::handle& o, const char* what) {
    if (PyBytes_Check(o.ptr())) {
        const char* p = PyBytes_AS_STRING(o.ptr());
        return bytes(p, p + PyBytes_GET_SIZE(o.ptr()));
    }
    if (PyByteArray_Check(o.ptr()) || PyMemoryView_Check(o.ptr())) {
        py::bytes b(py::reinterpret_steal<py::object>(PyBytes_FromObject(o.ptr())));
        std::string_view s(b);
        return bytes(s.begin(), s.end());
    }
    throw py::type_error(std::string(what) + " must be bytes (e.g. bytes.fromhex(\"010500000000CDCA\")), got " +
                         std::string(py::str(py::type::of(o).attr("__name__"))));
}

py::object to_py_time(sys_time t) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    return py_cache().epoch + py_cache().timedelta(py::arg("microseconds") = us);
}

py::object to_py_time(const std::optional<sys_time>& t) { return t ? to_py_time(*t) : py::none(); }

sys_time to_sys_time(const py::handle& o, const char* what) {
    const cache& c = py_cache();
    if (!py::isinstance(o, c.datetime))
        throw py::type_error(std::string(what) + " must be a datetime, got " + std::string(py::str(py::type::of(o).attr("__name__"))));
    if (o.attr("tzinfo").is_none() || o.attr("utcoffset")().is_none())
        throw py::value_error(std::string(what) + " must be timezone-aware (e.g. datetime.now(timezone.utc)); a naive " +
                              "datetime could be local time or UTC, and relaylink will not guess");
    py::object delta = o - c.epoch;
    const long long days = delta.attr("days").cast<long long>();
    const long long us = (days * 86400 + delta.attr("seconds").cast<long long>()) * 1'000'000 + delta.attr("microseconds").cast<long long>();
    // sys_time counts nanoseconds: years 1678-2261.
    constexpr long long limit = 9'000'000'000'000'000'000LL / 1000; // ~285 years either side of 1970
    if (us > limit || us < -limit) throw py::value_error(std::string(what) + " is out of range (years 1678-2261)");
    return sys_time(std::chrono::microseconds(us));
}

std::optional<sys_time> to_opt_sys_time(const py::handle& o, const char* what) {
    if (o.is_none()) return std::nullopt;
    return to_sys_time(o, what);
}

std::chrono::nanoseconds to_duration(const py::handle& o, const char* what) {
    double seconds = 0;
    if (py::isinstance(o, py_cache().timedelta))
        seconds = o.attr("total_seconds")().cast<double>();
    else if (PyLong_Check(o.ptr()) || PyFloat_Check(o.ptr()))
        seconds = o.cast<double>();
    else
        throw py::type_error(std::string(what) + " must be seconds (a number) or a timedelta, got " +
                             std::string(py::str(py::type::of(o).attr("__name__"))));
    if (!(seconds >= 0) || seconds > 1e9) // also refuses NaN
        throw py::value_error(std::string(what) + " must be between 0 and 1e9 seconds, got " + std::string(py::repr(o)));
    return std::chrono::nanoseconds(static_cast<long long>(seconds * 1e9));
}

py::object to_py_timedelta(std::chrono::nanoseconds d) {
    return py_cache().timedelta(py::arg("microseconds") = std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

py::object to_py_json(const boost::json::value& v) { return py_cache().json_loads(boost::json::serialize(v)); }

boost::json::value to_json_value(const py::handle& o, const char* what) {
    std::string text;
    try {
        text = py_cache().json_dumps(o, py::arg("allow_nan") = false).cast<std::string>();
    } catch (py::error_already_set& e) {
        throw py::type_error(std::string(what) + " must be JSON-serialisable (dict, list, str, number, bool, None): " +
                             std::string(py::str(e.value())));
    }
    return boost::json::parse(text);
}

void raise(const char* cls, const std::string& message, py::dict attrs) {
    raise_instance(py_cache().errors.attr(cls)(message, **attrs));
}

void raise_instance(const py::object& exc) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw py::error_already_set();
}

std::string checked_eui(const std::string& s) {
    std::string why;
    auto r = chirpstack::normalize_dev_eui(s, &why);
    if (!r) throw py::value_error(why);
    return *r;
}

std::string payload_text(const py::handle& payload, const char* what) {
    if (PyUnicode_Check(payload.ptr())) return payload.cast<std::string>();
    auto b = to_bytes(payload, what);
    return std::string(b.begin(), b.end());
}

void log(int level, const std::string& message) {
    py::gil_scoped_acquire g;
    try {
        py_cache().logger.attr("log")(level, "%s", message);
    } catch (py::error_already_set&) {
    }
}

async_result::async_result() {
    py::object loop = py::module_::import("asyncio").attr("get_running_loop")();
    py::object fut = loop.attr("create_future")();
    loop_ = held(loop);
    fut_ = held(fut);
}

void async_result::settle(const py::object& value, const py::object& error) const {
    // call_soon_threadsafe: the loop may be in another thread, and a future is not thread-safe.
    // The loop may also be closed by now (the app went away): then there is no one to tell.
    try {
        loop_.get().attr("call_soon_threadsafe")(py_cache().errors.attr("settle_future"), fut_.get(), value, error);
    } catch (py::error_already_set&) {
    }
}

} // namespace relaylink::python
