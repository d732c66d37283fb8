// The C++ objects behind relaylink.ChirpStackClient and relaylink.Simulator, shared with the
// service binding (a RelayService runs on its client's io_context thread, and may be fed by a
// simulator in the same process).
#pragma once

#include "common.hpp"

#include <relaylink/chirpstack/sync_client.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <thread>

namespace relaylink::python {

/// Run `f` (which stops an object's thread) without the GIL when this thread holds it: the stopping
/// thread may be waiting for the GIL to finish a callback into Python.
template <class F>
void without_gil(F&& f) {
    if (PyGILState_Check()) {
        py::gil_scoped_release nogil;
        f();
    } else {
        f();
    }
}

/// A ChirpStackClient. shared_ptr: a RelayService keeps the client it runs on alive even after the
/// Python object was closed or collected.
struct py_client {
    std::shared_ptr<chirpstack::sync_client> c;

    py_client() = default;
    explicit py_client(std::shared_ptr<chirpstack::sync_client> p) : c(std::move(p)) {}
    py_client(py_client&&) = default;
    py_client& operator=(py_client&&) = default;
    ~py_client() { close(); }
    /// Stops the client's thread.
    void close() {
        if (c) without_gil([this] { c.reset(); });
    }
    /// The client, shared: a call keeps it alive even if close() runs in another thread meanwhile.
    std::shared_ptr<chirpstack::sync_client> ptr() const {
        if (!c) throw py::value_error("this ChirpStackClient is closed");
        return c;
    }
    chirpstack::sync_client& get() const { return *ptr(); }
};

/// A Simulator: its own io_context thread.
struct sim_runtime {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    sim::simulator sim;
    std::thread thread;

    explicit sim_runtime(sim::simulator_config cfg) : sim(io.get_executor(), std::move(cfg)) {}
    ~sim_runtime() {
        sim.stop();
        work.reset();
        io.stop();
        if (thread.joinable()) thread.join();
    }
};

struct py_sim {
    std::shared_ptr<sim_runtime> rt;

    py_sim() = default;
    explicit py_sim(std::shared_ptr<sim_runtime> p) : rt(std::move(p)) {}
    py_sim(py_sim&&) = default;
    py_sim& operator=(py_sim&&) = default;
    ~py_sim() { stop(); }
    void stop() {
        if (rt) without_gil([this] { rt.reset(); });
    }
    sim::simulator& get() const {
        if (!rt) throw py::value_error("this Simulator is stopped");
        return rt->sim;
    }
};

} // namespace relaylink::python
