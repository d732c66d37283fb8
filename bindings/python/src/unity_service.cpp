// The Python module's files compiled as two (with RELAYLINK_UNITY, on by default: bindings/python/CMakeLists.txt),
// about 48 s each at -O2 instead of about 220 s for the eight. Files in the source tree, not CMake's generated
// unity files, so that `pip install .` and the packaging tests, built in other folders, are served by ccache from
// the main build's objects (a generated file's path differs in each build folder, and ccache hashes it).
// CMakeLists.txt checks that these two include each of the module's files once.
#include "bind_service.cpp"
#include "module.cpp"
#include "common.cpp"
#include "bind_modbus.cpp"
