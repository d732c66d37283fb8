// The files under tests/data (RELAYLINK_TEST_DATA), read whole: vectors and captured events.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace relaylink::test {

inline std::string read_test_data(const std::string& relative) {
    std::ifstream in(std::string(RELAYLINK_TEST_DATA) + "/" + relative);
    if (!in) throw std::runtime_error("missing test data " + relative);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace relaylink::test
