"""RelayService.listen_mqtt against a real broker (Debian's mosquitto, started here on a free
loopback port): the simulator publishes ChirpStack's events to it, relaylink subscribes."""
import os
import shutil
import socket
import subprocess
import time

import pytest

import relaylink
from conftest import SDM, eventually, free_port

MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


@pytest.fixture
def broker(tmp_path):
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def accepts():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    eventually(accepts, timeout=10)
    yield f"tcp://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_a_disconnect_confirmed_through_a_real_broker(broker, tmp_path):
    with relaylink.Simulator(speed=600, mqtt_url=broker, mqtt_qos=1) as sim, \
            relaylink.ChirpStackClient.for_simulator(sim) as client, \
            relaylink.RelayService(client, db=str(tmp_path / "r.db"), safety={"windows": False}, tick=0.02) as svc:
        src = svc.listen_mqtt(broker, client_id=f"relaylink-test-{time.monotonic_ns()}", clean_session=True)
        assert src.wait_connected(10), src.last_error
        assert src.kind == "mqtt" and src.connected and src.url == broker
        sim.add_device(SDM, uplink_interval=60)
        done = svc.wait(svc.disconnect(SDM, profile="eastron_sdm").id, timeout=60)
        assert done.state == "confirmed", [e.cause for e in done.events]
        st = src.stats()
        assert st["delivered"] > 0 and st["malformed"] == 0 and st["connects"] >= 1
        assert sim.device(SDM)["relay_closed"] is False


def test_a_broker_that_is_not_there_is_retried_and_explained(tmp_path):
    with relaylink.Simulator(manual_time=True) as sim, relaylink.ChirpStackClient.for_simulator(sim) as client, \
            relaylink.RelayService(client, db=":memory:") as svc:
        src = svc.listen_mqtt(f"tcp://127.0.0.1:{free_port()}", client_id="relaylink-test-nobroker")
        assert not src.wait_connected(1.0)
        assert not src.connected and src.last_error
        assert eventually(lambda: src.stats()["connect_failures"] >= 1)
        src.stop()
