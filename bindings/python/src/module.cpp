// relaylink._core: the compiled half of the relaylink Python package. Import `relaylink`, not this.
#include "bindings.hpp"
#include "common.hpp"

#include <relaylink/version.hpp>

PYBIND11_MODULE(_core, m) {
    using namespace relaylink::python;
    m.doc() = "relaylink's compiled core; use the relaylink package, which wraps it.";
    init_cache();
    m.attr("__version__") = relaylink::version_string;
    auto modbus = m.def_submodule("modbus", "Modbus RTU frames: CRC, encoders, reply decoding");
    bind_modbus(modbus);
    bind_profiles(m);
    bind_chirpstack(m);
    bind_events(m);
    bind_service(m);
    bind_sim(m);
}
