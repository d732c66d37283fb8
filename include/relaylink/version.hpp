// relaylink's version.
#pragma once

#define RELAYLINK_VERSION_MAJOR 0
#define RELAYLINK_VERSION_MINOR 1
#define RELAYLINK_VERSION_PATCH 0

namespace relaylink {
inline constexpr const char* version_string = "0.1.0";
}
