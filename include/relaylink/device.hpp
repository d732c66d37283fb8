// Meter profiles: intents to downlinks, uplinks to replies. Built-ins and JSON-defined profiles.
#pragma once

#include <relaylink/device/builtin.hpp>
#include <relaylink/device/profile.hpp>
#include <relaylink/device/profile_json.hpp>
