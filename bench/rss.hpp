// The resident set of this process, for the benchmarks' memory figures.
#pragma once

#include <fstream>
#include <string>

namespace relaylink::bench {

/// VmRSS in KiB (0 when /proc is not there).
inline long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

} // namespace relaylink::bench
