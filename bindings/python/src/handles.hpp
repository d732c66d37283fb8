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
#include <string>
#include <thread>

#include <unistd.h>

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

/// An object with an I/O thread belongs to the process that made it: after fork() the child has the
/// object but not the thread, so a call would wait for ever and the destructor would join a thread
/// that is not there. In a child, calls raise a clear error and the object is left alone (leaked).
struct process_owned {
    pid_t owner = ::getpid();
    bool forked() const noexcept { return ::getpid() != owner; }
    void check(const char* what) const {
        if (forked())
            throw std::runtime_error(std::string(what) + " was created in another process (before a fork: gunicorn --preload, "
                                     "Celery's prefork pool...); create it in the process that uses it");
    }
    template <class T>
    static void abandon(std::shared_ptr<T>& p) {
        new std::shared_ptr<T>(std::move(p)); // never destroyed: its thread does not exist in this process
    }
};

/// A ChirpStackClient. shared_ptr: a RelayService keeps the client it runs on alive even after the
/// Python object was closed or collected.
struct py_client : process_owned {
    std::shared_ptr<chirpstack::sync_client> c;

    py_client() = default;
    explicit py_client(std::shared_ptr<chirpstack::sync_client> p) : c(std::move(p)) {}
    py_client(py_client&&) = default;
    py_client& operator=(py_client&&) = default;
    ~py_client() { close(); }
    /// Stops the client's thread.
    void close() {
        if (c && forked()) abandon(c);
        if (c) without_gil([this] { c.reset(); });
    }
    /// The client, shared: a call keeps it alive even if close() runs in another thread meanwhile.
    std::shared_ptr<chirpstack::sync_client> ptr() const {
        check("this ChirpStackClient");
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

struct py_sim : process_owned {
    std::shared_ptr<sim_runtime> rt;

    py_sim() = default;
    explicit py_sim(std::shared_ptr<sim_runtime> p) : rt(std::move(p)) {}
    py_sim(py_sim&&) = default;
    py_sim& operator=(py_sim&&) = default;
    ~py_sim() { stop(); }
    void stop() {
        if (rt && forked()) abandon(rt);
        if (rt) without_gil([this] { rt.reset(); });
    }
    sim::simulator& get() const {
        check("this Simulator");
        if (!rt) throw py::value_error("this Simulator is stopped");
        return rt->sim;
    }
};

} // namespace relaylink::python
