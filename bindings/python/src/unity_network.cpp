// The Python module's other half when compiled as two files: see unity_service.cpp.
#include "bind_chirpstack.cpp"
#include "bind_events.cpp"
#include "bind_sim.cpp"
#include "bind_profiles.cpp"
