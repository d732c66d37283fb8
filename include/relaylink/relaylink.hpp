// relaylink: disconnect and reconnect electricity meters over LoRaWAN (ChirpStack v4), and know
// for certain what happened to every command. This umbrella header includes every public part.
#pragma once

#include <relaylink/command/lifecycle.hpp>
#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>
#include <relaylink/error.hpp>
#include <relaylink/evidence.hpp>
#include <relaylink/modbus.hpp>
#include <relaylink/version.hpp>
