"""
Modbus RTU frames: CRC, encoders, reply decoding
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['EXCEPTIONS', 'FUNCTIONS', 'Request', 'Response', 'crc16', 'crc_ok', 'decode_response', 'encode_exception', 'encode_response', 'exception_message', 'parse_request', 'read_coils', 'read_discrete_inputs', 'read_holding_registers', 'read_input_registers', 'to_float32', 'to_i32', 'to_u32', 'with_crc', 'write_multiple_coils', 'write_multiple_registers', 'write_single_coil', 'write_single_register']
class Request:
    """
    A request frame, described (see parse_request).
    """
    __hash__: typing.ClassVar[None] = None  # type: ignore[assignment]
    def __eq__(self, other: object) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def address(self) -> int:
        ...
    @property
    def function(self) -> int:
        ...
    @property
    def function_name(self) -> str:
        ...
    @property
    def quantity(self) -> int:
        ...
    @property
    def slave(self) -> int:
        ...
    @property
    def values(self) -> list[int]:
        ...
class Response:
    """
    A device's reply, decoded against the request it answers.
    """
    __hash__: typing.ClassVar[None] = None  # type: ignore[assignment]
    def __eq__(self, other: object) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def address(self) -> int:
        ...
    @property
    def exception(self) -> typing.Any:
        """
        The device's exception by name ('illegal_data_address'), or None for a normal reply.
        """
    @property
    def exception_code(self) -> typing.Any:
        ...
    @property
    def exception_message(self) -> typing.Any:
        ...
    @property
    def function(self) -> int:
        ...
    @property
    def function_name(self) -> str:
        ...
    @property
    def ok(self) -> bool:
        ...
    @property
    def quantity(self) -> int:
        ...
    @property
    def slave(self) -> int:
        ...
    @property
    def values(self) -> list[int]:
        ...
def crc16(data: bytes | bytearray | memoryview) -> int:
    """
    CRC-16/MODBUS of `data` (the value; on the wire it goes low byte first).
    """
def crc_ok(frame: bytes | bytearray | memoryview) -> bool:
    """
    True when the frame's last two bytes are the CRC of the rest.
    """
def decode_response(request: bytes | bytearray | memoryview, reply: bytes | bytearray | memoryview) -> Response:
    """
    Decode `reply` as the answer to the request frame `request`: checks CRC, slave, function, byte count and the echo of a write. A Modbus exception is a normal result (Response.exception); a frame that is not a reply to this request raises ModbusError.
    """
def encode_exception(slave: typing.SupportsInt | typing.SupportsIndex, function: typing.SupportsInt | typing.SupportsIndex, exception_code: typing.SupportsInt | typing.SupportsIndex) -> bytes:
    """
    An exception reply (for tests and simulators).
    """
def encode_response(request: bytes | bytearray | memoryview, values: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> bytes:
    """
    The normal reply a device would send to `request` (for tests and simulators).
    """
def exception_message(code: typing.SupportsInt | typing.SupportsIndex) -> str:
    """
    What a Modbus exception code means, in words.
    """
def parse_request(frame: bytes | bytearray | memoryview) -> Request:
    """
    Read a request frame back (checks its CRC and limits).
    """
def read_coils(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, quantity: typing.SupportsInt | typing.SupportsIndex = 1) -> bytes:
    """
    Function 01: read coils (the relay state on an SDM320C).
    """
def read_discrete_inputs(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, quantity: typing.SupportsInt | typing.SupportsIndex = 1) -> bytes:
    """
    Function 02: read discrete inputs.
    """
def read_holding_registers(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, quantity: typing.SupportsInt | typing.SupportsIndex = 1) -> bytes:
    """
    Function 03: read holding registers.
    """
def read_input_registers(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, quantity: typing.SupportsInt | typing.SupportsIndex = 1) -> bytes:
    """
    Function 04: read input registers (measurements).
    """
def to_float32(registers: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], word_order: str = 'high_word_first') -> float:
    """
    Two registers as an IEEE 754 float (the SDM320C's measurements).
    """
def to_i32(registers: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], word_order: str = 'high_word_first') -> int:
    ...
def to_u32(registers: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], word_order: str = 'high_word_first') -> int:
    ...
def with_crc(data: bytes | bytearray | memoryview) -> bytes:
    """
    `data` with its CRC appended (low byte first).
    """
def write_multiple_coils(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, coils: collections.abc.Sequence[bool]) -> bytes:
    """
    Function 0F (15).
    """
def write_multiple_registers(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, values: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> bytes:
    """
    Function 10 (16).
    """
def write_single_coil(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, on: bool) -> bytes:
    """
    Function 05. write_single_coil(1, 0, False) is the SDM320C's relay OFF: 01 05 00 00 00 00 CD CA.
    """
def write_single_register(slave: typing.SupportsInt | typing.SupportsIndex, address: typing.SupportsInt | typing.SupportsIndex, value: typing.SupportsInt | typing.SupportsIndex) -> bytes:
    """
    Function 06.
    """
EXCEPTIONS: dict[typing.Any, typing.Any] = {1: 'illegal_function', 2: 'illegal_data_address', 3: 'illegal_data_value', 4: 'server_device_failure', 5: 'acknowledge', 6: 'server_device_busy', 7: 'negative_acknowledge', 8: 'memory_parity_error', 10: 'gateway_path_unavailable', 11: 'gateway_target_failed_to_respond'}
FUNCTIONS: dict[typing.Any, typing.Any] = {1: 'read_coils', 2: 'read_discrete_inputs', 3: 'read_holding_registers', 4: 'read_input_registers', 5: 'write_single_coil', 6: 'write_single_register', 15: 'write_multiple_coils', 16: 'write_multiple_registers'}
