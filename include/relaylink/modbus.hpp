// Modbus RTU codec: CRC-16/MODBUS, request encoders, reply decoder, register value helpers. No I/O.
#pragma once

#include <relaylink/modbus/crc.hpp>
#include <relaylink/modbus/error.hpp>
#include <relaylink/modbus/exception.hpp>
#include <relaylink/modbus/frame.hpp>
#include <relaylink/modbus/function_code.hpp>
#include <relaylink/modbus/request.hpp>
#include <relaylink/modbus/response.hpp>
#include <relaylink/modbus/values.hpp>
