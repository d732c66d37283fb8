"""relaylink.modbus against the checked vectors (tests/data/modbus.json) and every refusal."""
import json

import pytest

from relaylink import ModbusError, modbus
from conftest import DATA

VECTORS = json.loads((DATA / "modbus.json").read_text())


def test_crc16_matches_the_vectors():
    for v in VECTORS["crc16_modbus"]:
        data = v["ascii"].encode() if "ascii" in v else bytes.fromhex(v["hex"])
        assert modbus.crc16(data) == int(v["crc"], 16)


@pytest.mark.parametrize("v", VECTORS["requests"], ids=lambda v: v["name"])
def test_request_vectors_parse_back_with_their_crc(v):
    frame = bytes.fromhex(v["frame"])
    assert modbus.crc_ok(frame)
    req = modbus.parse_request(frame)
    assert (req.slave, req.function) == (v["slave"], v["function"])


def test_relay_frames_are_the_portals_constants():
    assert modbus.write_single_coil(1, 0, False) == bytes.fromhex("010500000000CDCA")
    assert modbus.write_single_coil(1, 0, True) == bytes.fromhex("01050000FF008C3A")
    assert modbus.write_multiple_registers(1, 0xA7, [0xFFFF, 0xFFFF]) == bytes.fromhex("011000A7000204FFFFFFFFB9A5")
    assert modbus.RELAY_OFF == bytes.fromhex("010500000000CDCA")


def test_the_known_bad_base64_is_not_the_off_frame():
    import base64
    bad = VECTORS["known_bad"][0]
    assert base64.b64decode(bad["base64"]) != modbus.RELAY_OFF
    assert not modbus.crc_ok(base64.b64decode(bad["base64"]))


def test_encoders_and_with_crc():
    assert modbus.read_holding_registers(1, 0, 10) == bytes.fromhex("01030000000AC5CD")
    assert modbus.read_input_registers(1, 0x48, 2) == bytes.fromhex("010400480002F1DD")
    assert modbus.write_single_register(1, 0, 1) == bytes.fromhex("010600000001480A")
    assert modbus.write_multiple_coils(1, 0, [False]) == bytes.fromhex("010F0000000101002E97")
    assert modbus.with_crc(bytes.fromhex("010500000000")) == bytes.fromhex("010500000000CDCA")


def test_decode_write_echo_read_and_exception():
    off = modbus.RELAY_OFF
    r = modbus.decode_response(off, off)
    assert r.ok and r.function_name == "write_single_coil" and r.values == [0]
    read = modbus.read_coils(1, 0, 1)
    assert modbus.decode_response(read, bytes.fromhex("010101005188")).values == [0]
    assert modbus.decode_response(read, bytes.fromhex("010101019048")).values == [1]
    exc = modbus.decode_response(modbus.read_holding_registers(1, 0, 1), bytes.fromhex("018302C0F1"))
    assert not exc.ok and exc.exception == "illegal_data_address" and exc.exception_code == 2
    assert "no such coil or register" in exc.exception_message
    assert modbus.EXCEPTIONS[0x0B] == "gateway_target_failed_to_respond"


@pytest.mark.parametrize("request_hex,reply_hex,code", [
    ("010500000000CDCA", "010500000000CDCB", "crc_mismatch"),
    ("010500000000CDCA", "020500000000CDF9", "wrong_slave"),
    ("010500000000CDCA", "0105000000", "truncated"),
    ("01050000FF008C3A", "010500000000CDCA", "echo_mismatch"),
])
def test_replies_that_do_not_answer_raise_modbus_error_with_the_reason(request_hex, reply_hex, code):
    with pytest.raises(ModbusError) as e:
        modbus.decode_response(bytes.fromhex(request_hex), bytes.fromhex(reply_hex))
    assert e.value.code == code
    assert isinstance(e.value, ValueError) and str(e.value)


@pytest.mark.parametrize("call,code", [
    (lambda: modbus.read_coils(0, 0, 1), "broadcast_read"),
    (lambda: modbus.read_coils(248, 0, 1), "invalid_slave"),
    (lambda: modbus.read_coils(1, 0, 2001), "invalid_quantity"),
    (lambda: modbus.read_holding_registers(1, 65535, 2), "address_overflow"),
    (lambda: modbus.write_single_coil(300, 0, True), "invalid_slave"),
    (lambda: modbus.write_single_register(1, 70000, 1), "invalid_address"),
    (lambda: modbus.write_multiple_registers(1, 0, [70000]), "invalid_register"),
    (lambda: modbus.to_float32([1], "high_word_first"), "truncated"),
    (lambda: modbus.to_u32([1, 2], "middle"), "invalid_word_order"),
    (lambda: modbus.encode_exception(1, 0x2B, 2), "unsupported_function"),
])
def test_bad_arguments_raise_modbus_error_naming_the_reason(call, code):
    with pytest.raises(ModbusError) as e:
        call()
    assert e.value.code == code, str(e.value)


def test_bytes_are_required_not_text():
    with pytest.raises(TypeError, match="must be bytes"):
        modbus.crc16("010500000000CDCA")
    assert modbus.crc16(bytearray(b"123456789")) == 0x4B37
    assert modbus.crc16(memoryview(b"123456789")) == 0x4B37


def test_values_and_round_trip_of_encode_response():
    assert modbus.to_float32([0x4366, 0x1999]) == pytest.approx(230.1, abs=1e-3)
    assert modbus.to_u32([0x0001, 0x0000], word_order="low_word_first") == 1
    read = modbus.read_input_registers(1, 0, 2)
    reply = modbus.encode_response(read, [0x4366, 0x1999])
    assert modbus.decode_response(read, reply).values == [0x4366, 0x1999]
