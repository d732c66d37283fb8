// The devices of the crash test: the child asks for one disconnect per device, the parent simulates
// them and checks each. One definition, so the two processes cannot disagree on a DevEUI.
#pragma once

#include <cstdio>
#include <string>

namespace relaylink::test {

inline std::string crash_device(int i) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016x", 0x7000 + i);
    return buf;
}

} // namespace relaylink::test
