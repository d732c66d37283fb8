"""relaylink.Simulator from Python: its control API, its events, and every bad setting."""
import threading

import pytest

import relaylink
from relaylink import ConfigError
from conftest import SDM, LOAD_SIDE, eventually


def test_manual_time_uplinks_events_and_the_relay():
    events = []
    with relaylink.Simulator(manual_time=True) as sim:
        sim.on_event(lambda kind, eui, payload: events.append((kind, eui, threading.get_ident())))
        sim.add_device(SDM, name="meter 1", uplink_interval=600)
        with relaylink.ChirpStackClient.for_simulator(sim) as c:
            c.enqueue(SDM, relaylink.modbus.RELAY_OFF, confirmed=True)
        t0 = sim.now()
        assert sim.trigger_uplink(SDM)
        sim.advance(5)
        assert (sim.now() - t0).total_seconds() == pytest.approx(5, abs=0.01)
        dev = sim.device(SDM)
        assert dev["relay_closed"] is False and dev["name"] == "meter 1" and dev["queue_length"] == 0
        assert dev["downlinks"][0]["data"] == relaylink.modbus.RELAY_OFF and dev["downlinks"][0]["reached_device"]
        kinds = [k for k, _, _ in events]
        assert kinds[:2] == ["up", "txack"] and "ack" in kinds
        for kind, eui, _ in events:  # every payload the simulator emits is a readable ChirpStack event
            assert eui == SDM
        assert sim.events_emitted == len(events)
        assert sim.device("0909090909090909") is None and not sim.trigger_uplink("0909090909090909")
        assert sim.device_euis() == [SDM]
        assert sim.remove_device(SDM) and sim.device_euis() == []


def test_event_payloads_parse():
    payloads = []
    with relaylink.Simulator(manual_time=True) as sim:
        sim.on_event(lambda kind, eui, payload: payloads.append((kind, payload)))
        sim.add_device(SDM)
        sim.trigger_uplink(SDM)
    assert payloads and all(relaylink.parse_event(k, p).dev_eui == SDM for k, p in payloads)


def test_a_load_side_bridge_goes_silent_until_power_is_restored():
    with relaylink.Simulator(manual_time=True) as sim:
        sim.add_device(LOAD_SIDE, wiring="load_side")
        with relaylink.ChirpStackClient.for_simulator(sim) as c:
            c.enqueue(LOAD_SIDE, relaylink.modbus.RELAY_OFF)
        sim.trigger_uplink(LOAD_SIDE)
        sim.advance(5)
        assert sim.device(LOAD_SIDE)["bridge_powered"] is False
        assert not sim.trigger_uplink(LOAD_SIDE)
        assert sim.restore_power(LOAD_SIDE) and sim.device(LOAD_SIDE)["bridge_powered"]


def test_faults():
    with relaylink.Simulator(manual_time=True) as sim:
        sim.add_device(SDM)
        assert sim.set_faults(SDM, uplink_loss=1.0)
        sim.trigger_uplink(SDM)
        assert sim.device(SDM)["uplinks_lost"] == 1
        sim.set_http_faults(error_5xx_rate=1.0)
        with relaylink.ChirpStackClient.for_simulator(sim, max_attempts=1) as c:
            with pytest.raises(relaylink.ChirpStackError) as e:
                c.get_queue(SDM)
            assert e.value.http_status == 503 and e.value.transient
        sim.set_http_faults()
        sim.reset()
        assert sim.device_euis() == []


def test_a_callback_that_raises_is_logged(caplog):
    import logging
    with relaylink.Simulator(manual_time=True) as sim:
        def broken(*_):
            raise KeyError("callback bug")
        sim.on_event(broken)
        sim.add_device(SDM)
        with caplog.at_level(logging.ERROR, logger="relaylink"):
            sim.trigger_uplink(SDM)
        assert any("callback bug" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kw,field", [
    (dict(speed=0), "speed"),
    (dict(port=70000), "port"),
    (dict(api_key=""), "api_key"),
    (dict(mqtt_qos=3), "mqtt_qos"),
    (dict(integration_url="ftp://x"), "simulator"),
    (dict(address="256.0.0.1"), "port"),
    (dict(event_order="random"), "event_order"),
])
def test_bad_simulator_settings(kw, field):
    with pytest.raises(ConfigError) as e:
        relaylink.Simulator(**kw)
    assert e.value.field == field, str(e.value)


@pytest.mark.parametrize("kw,field", [
    (dict(kind="landis"), "kind"),
    (dict(wiring="sideways"), "wiring"),
    (dict(uplink_interval=0.5), "uplink_interval"),
    (dict(passthrough_port=0), "passthrough_port"),
    (dict(slave=0), "slave"),
    (dict(uplink_loss=1.5), "uplink_loss"),
    (dict(data_rate=16), "data_rate"),
])
def test_bad_devices(kw, field):
    with relaylink.Simulator(manual_time=True) as sim:
        with pytest.raises(ConfigError) as e:
            sim.add_device(SDM, **kw)
        assert e.value.field == field, str(e.value)
        with pytest.raises(ValueError, match="16 hex digits"):
            sim.add_device("0102")
        with pytest.raises(TypeError):
            sim.add_device(SDM, uplink_interval="10 minutes")
        with pytest.raises(ValueError):
            sim.advance(-1)


def test_a_stopped_simulator_says_so():
    sim = relaylink.Simulator()
    sim.stop()
    sim.stop()
    assert not sim.running and "stopped" in repr(sim)
    with pytest.raises(ValueError, match="stopped"):
        sim.add_device(SDM)


@pytest.mark.parametrize("kw,field", [
    (dict(error_5xx_rate=0.7, garbled_rate=0.7), "http_faults"),  # each request suffers at most one fault
    (dict(only_method="PATCH"), "http_faults"),
    (dict(slow_rate=-0.1), "slow_rate"),
])
def test_bad_http_faults(kw, field):
    with relaylink.Simulator(manual_time=True) as sim:
        with pytest.raises(ConfigError) as e:
            sim.set_http_faults(**kw)
        assert e.value.field == field, str(e.value)


def test_the_simulator_answers_for_an_unknown_device_as_chirpstack_4_20_does():
    with relaylink.Simulator(manual_time=True) as sim, relaylink.ChirpStackClient.for_simulator(sim) as c:
        assert c.get_queue("70b3d5e7000000ff") == []
        with pytest.raises(relaylink.ChirpStackError) as e:
            c.enqueue("70b3d5e7000000ff", bytes.fromhex("010500000000CDCA"), f_port=5, confirmed=True)
        assert e.value.http_status == 500 and "is not in ChirpStack" in str(e.value)
        assert sim.device("70b3d5e7000000ff") is None
