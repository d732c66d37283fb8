"""Modbus RTU frames: CRC-16/MODBUS, request encoders, reply decoding (C++, relaylink._core).

Bytes in, bytes out::

    >>> from relaylink import modbus
    >>> modbus.write_single_coil(1, 0, False).hex(" ")
    '01 05 00 00 00 00 cd ca'
    >>> r = modbus.decode_response(bytes.fromhex("010500000000CDCA"), bytes.fromhex("010500000000CDCA"))
    >>> r.ok, r.values
    (True, [0])

A frame that cannot be encoded, or a reply that does not answer the request, raises
:class:`ModbusError` (a :class:`ValueError`) whose ``code`` names the reason (``"crc_mismatch"``,
``"wrong_slave"``...). A device's Modbus *exception* is a normal reply: ``Response.exception`` is its
name (one of :data:`EXCEPTIONS`).
"""
from __future__ import annotations

from typing import Dict

from ._core import modbus as _m
from ._errors import ModbusError

crc16 = _m.crc16
crc_ok = _m.crc_ok
with_crc = _m.with_crc
read_coils = _m.read_coils
read_discrete_inputs = _m.read_discrete_inputs
read_holding_registers = _m.read_holding_registers
read_input_registers = _m.read_input_registers
write_single_coil = _m.write_single_coil
write_single_register = _m.write_single_register
write_multiple_coils = _m.write_multiple_coils
write_multiple_registers = _m.write_multiple_registers
parse_request = _m.parse_request
decode_response = _m.decode_response
encode_response = _m.encode_response
encode_exception = _m.encode_exception
exception_message = _m.exception_message
to_u32 = _m.to_u32
to_i32 = _m.to_i32
to_float32 = _m.to_float32
Request = _m.Request
Response = _m.Response

#: Modbus exception codes and their names: {2: "illegal_data_address", ...}.
EXCEPTIONS: Dict[int, str] = dict(_m.EXCEPTIONS)
#: Function codes relaylink encodes and decodes: {5: "write_single_coil", ...}.
FUNCTIONS: Dict[int, str] = dict(_m.FUNCTIONS)

#: The SDM320C relay frames through a UC100 (slave 1, coil 0), as the portal's constants have them.
RELAY_OFF = write_single_coil(1, 0, False)
RELAY_ON = write_single_coil(1, 0, True)

__all__ = [
    "ModbusError", "crc16", "crc_ok", "with_crc", "read_coils", "read_discrete_inputs", "read_holding_registers",
    "read_input_registers", "write_single_coil", "write_single_register", "write_multiple_coils",
    "write_multiple_registers", "parse_request", "decode_response", "encode_response", "encode_exception",
    "exception_message", "to_u32", "to_i32", "to_float32", "Request", "Response", "EXCEPTIONS", "FUNCTIONS",
    "RELAY_OFF", "RELAY_ON",
]
