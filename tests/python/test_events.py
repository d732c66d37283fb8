"""relaylink.parse_event over ChirpStack's JSON (tests/data/events) and its refusals."""
import json

import pytest

import relaylink
from relaylink import EventError
from conftest import DATA


def event(name):
    return (DATA / "events" / f"{name}.json").read_text()


def test_each_event_type_reads_into_its_class():
    up = relaylink.parse_event("up", event("up"))
    assert isinstance(up, relaylink.UpEvent) and up.type == "up"
    assert up.dev_eui == "0101010101010101" and up.f_cnt == 10 and up.data == b"\xaa"
    assert up.time.tzinfo is not None and up.time.year == 2026
    assert up.device.tags == {"key": "value"}
    ack = relaylink.parse_event("ack", event("ack").encode())
    assert isinstance(ack, relaylink.AckEvent) and ack.queue_item_id
    tx = relaylink.parse_event("txack", event("txack"))
    assert isinstance(tx, relaylink.TxAckEvent)
    log = relaylink.parse_event("log", event("log"))
    assert isinstance(log, relaylink.LogEvent) and log.level in ("INFO", "WARNING", "ERROR")


def test_an_unknown_type_is_not_an_error():
    e = relaylink.parse_event("integration", json.dumps({"deviceInfo": json.loads(event("up"))["deviceInfo"]}))
    assert isinstance(e, relaylink.UnknownEvent) and e.type == "integration" and e.dev_eui == "0101010101010101"


@pytest.mark.parametrize("payload,field", [
    ("{nope", ""),
    (json.dumps({"time": "2026-07-18T09:34:15+00:00"}), "deviceInfo"),
])
def test_unreadable_events_raise_event_error_naming_the_field(payload, field):
    with pytest.raises(EventError) as e:
        relaylink.parse_event("up", payload)
    assert e.value.field == field and str(e.value)


def test_a_bad_device_eui_is_named():
    doc = json.loads(event("up"))
    doc["deviceInfo"]["devEui"] = "xyz"
    with pytest.raises(EventError) as e:
        relaylink.parse_event("up", json.dumps(doc))
    assert "devEui" in e.value.field


def test_payload_must_be_text_or_bytes():
    with pytest.raises(TypeError):
        relaylink.parse_event("up", 42)
