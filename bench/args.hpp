// The benchmark programs' command-line numbers: a bad one (not a whole number, out of range) is a usage
// error naming the argument, exit status 2, never an uncaught std::stoi exception.
#pragma once

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace relaylink::bench {

/// argv[i] as a whole number in [min, max], or `fallback` when it is not given.
inline long long number_arg(int argc, char** argv, int i, long long fallback, long long min, long long max, const char* name,
                            const char* usage) {
    if (argc <= i) return fallback;
    const std::string_view s = argv[i];
    long long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) {
        std::fprintf(stderr, "%s: %s must be a whole number from %lld to %lld, not '%s'\nusage: %s\n", argv[0], name, min, max,
                     argv[i], usage);
        std::exit(2);
    }
    return v;
}

} // namespace relaylink::bench
