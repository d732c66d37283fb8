// relaylink: disconnect and reconnect electricity meters over LoRaWAN (ChirpStack v4), and know
// for certain what happened to every command. This header includes the parts without I/O, cheap to
// compile: Modbus RTU, meter profiles, encodings, the command lifecycle and its evidence, errors and the
// version. The parts that do I/O (each pulls in Boost.Asio, Beast or a database client) are included by
// what they are, where they are used:
//   <relaylink/chirpstack/client.hpp>, <relaylink/chirpstack/sync_client.hpp>   the REST client
//   <relaylink/chirpstack/event.hpp>                                            ChirpStack's events
//   <relaylink/service/service.hpp>                                             the relay service
//   <relaylink/store/store.hpp>                                                 SQLite, PostgreSQL, memory
//   <relaylink/ingest/mqtt_source.hpp>, <relaylink/ingest/http_integration.hpp> event intake
//   <relaylink/sim/simulator.hpp>                                               the ChirpStack + device simulator
#pragma once

#include <relaylink/command/lifecycle.hpp>
#include <relaylink/device.hpp>
#include <relaylink/encoding.hpp>
#include <relaylink/error.hpp>
#include <relaylink/evidence.hpp>
#include <relaylink/modbus.hpp>
#include <relaylink/version.hpp>
