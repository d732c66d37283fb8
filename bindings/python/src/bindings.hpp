// The parts of relaylink._core, one per area (each in its own translation unit, so a change to one
// recompiles one).
#pragma once

#include <pybind11/pybind11.h>

namespace relaylink::python {

void bind_modbus(pybind11::module_& m);
void bind_profiles(pybind11::module_& m);
void bind_chirpstack(pybind11::module_& m);
void bind_events(pybind11::module_& m);
void bind_service(pybind11::module_& m);
void bind_sim(pybind11::module_& m);

} // namespace relaylink::python
