// What every part of the Python bindings shares: conversions (bytes, times, durations, JSON), the
// rule for holding Python objects from C++ threads, and the bridge from C++ threads into Python
// (callbacks, asyncio futures).
#pragma once

#include <relaylink/encoding.hpp>
#include <relaylink/time.hpp>

#include <boost/json/value.hpp>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace relaylink::python {

namespace py = pybind11;

/// Python objects the bindings use over and over, looked up once (and never freed: they live until
/// the interpreter ends, and freeing them at exit would need the GIL at an unknown moment).
struct cache {
    py::object datetime, timedelta, utc, epoch, json_loads, json_dumps, logger;
    py::object errors; ///< the module relaylink._errors
};
cache& py_cache();
void init_cache();

// ---- bytes ------------------------------------------------------------------------------------
/// bytes, bytearray or memoryview → bytes; anything else is a TypeError naming `what`.
bytes to_bytes(const py::handle& o, const char* what);
inline py::bytes to_py_bytes(std::span<const std::uint8_t> b) {
    return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

// ---- time -------------------------------------------------------------------------------------
/// An aware datetime in UTC.
py::object to_py_time(sys_time t);
py::object to_py_time(const std::optional<sys_time>& t);
/// An aware datetime → sys_time. A naive datetime is refused (ValueError): relaylink cannot guess
/// its zone, and a portal in Africa/Johannesburg would be two hours off.
sys_time to_sys_time(const py::handle& o, const char* what);
std::optional<sys_time> to_opt_sys_time(const py::handle& o, const char* what);
/// Seconds (int/float) or a timedelta → a duration; negative refused.
std::chrono::nanoseconds to_duration(const py::handle& o, const char* what);
py::object to_py_timedelta(std::chrono::nanoseconds d);

// ---- JSON -------------------------------------------------------------------------------------
py::object to_py_json(const boost::json::value& v);
boost::json::value to_json_value(const py::handle& o, const char* what);

// ---- errors -----------------------------------------------------------------------------------
/// Raise relaylink._errors.<cls>(message, **attrs) (sets the Python error and throws
/// error_already_set, which pybind11 passes on as is).
[[noreturn]] void raise(const char* cls, const std::string& message, py::dict attrs = {});
/// Raise an exception instance already built (sets the Python error, throws error_already_set).
[[noreturn]] void raise_instance(const py::object& exc);

// ---- arguments --------------------------------------------------------------------------------
/// A DevEUI normalised to 16 lower-case hex digits; ValueError saying what is wrong otherwise.
std::string checked_eui(const std::string& s);
/// An event payload: str, or bytes-like (UTF-8 JSON); TypeError naming `what` otherwise.
std::string payload_text(const py::handle& payload, const char* what);
/// Log through logging.getLogger("relaylink").
void log(int level, const std::string& message);
inline constexpr int log_debug = 10, log_info = 20, log_warning = 30, log_error = 40;

// ---- Python objects held by C++ ---------------------------------------------------------------
/// A reference to a Python object that may be copied and destroyed on a C++ thread without the
/// GIL: the last owner drops the reference under the GIL (unless the interpreter is gone).
class held {
public:
    held() = default;
    explicit held(py::object o) : p_(std::shared_ptr<py::object>(new py::object(std::move(o)), drop)) {}
    const py::object& get() const { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    static void drop(py::object* o) {
        if (Py_IsInitialized()) {
            py::gil_scoped_acquire g;
            delete o;
        } else {
            o->release(); // the interpreter is gone: nothing left to free it from
            delete o;
        }
    }
    std::shared_ptr<py::object> p_;
};

/// Call a Python callable from a C++ thread: takes the GIL; an exception the callable raises is
/// logged (with its traceback) and swallowed, since C++ has no one to hand it to.
template <class... Args>
void call_from_cpp(const held& f, const char* what, Args&&... args) {
    py::gil_scoped_acquire g;
    try {
        f.get()(std::forward<Args>(args)...);
    } catch (py::error_already_set& e) {
        try {
            py_cache().errors.attr("log_callback_error")(what, e.value());
        } catch (py::error_already_set&) { // logging itself failed: nothing more can be done here
        }
    }
}

/// An asyncio future of the running loop, settled later from a C++ thread.
class async_result {
public:
    async_result(); ///< asyncio.get_running_loop().create_future(); RuntimeError outside a loop
    py::object future() const { return fut_.get(); }
    /// From any thread: settle with the value `make()` builds under the GIL (an exception it raises
    /// settles the future with that exception).
    template <class Make>
    void resolve(Make&& make) const {
        py::gil_scoped_acquire g;
        try {
            py::object v = make();
            settle(v, py::none());
        } catch (py::error_already_set& e) {
            settle(py::none(), e.value());
        }
    }

private:
    void settle(const py::object& value, const py::object& error) const;
    held loop_, fut_;
};

} // namespace relaylink::python
