// How relaylink's components tell a person something: a level and a line, through a function the
// application gives (stderr, syslog, Python's logging). An empty function keeps a component silent.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace relaylink {

enum class log_level : std::uint8_t { debug, info, warning, error };

constexpr std::string_view to_string(log_level l) noexcept {
    switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    }
    return "?";
}

/// Called with each line; it must not throw (a throwing one is ignored) and should be quick.
using log_fn = std::function<void(log_level, std::string_view message)>;

} // namespace relaylink
