"""Several processes, one SQLite store (issue 9, first step): 4 processes each create commands, all
dispatch and all ingest ChirpStack's events, split between them by an MQTT shared subscription on a
real mosquitto. Checked: every downlink sent exactly once (the simulator's own log of what each
device received), every command terminal, every audit trail gap-free."""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

import relaylink
from conftest import eventually, free_port

MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")

PROCESSES = 4
DEVICES = int(os.environ.get("RELAYLINK_MP_DEVICES", "2000"))


def worker(index: int, sim_url: str, api_key: str, broker: str, db: str, euis: list, ready, go, done_q) -> None:
    """One process of the portal: its own client, service and MQTT subscriber on the shared store."""
    try:
        with relaylink.ChirpStackClient(url=sim_url, api_key=api_key) as client, \
                relaylink.RelayService(client, db=db, safety={"windows": False}, tick=0.05, max_in_flight=16) as svc:
            src = svc.listen_mqtt(broker, client_id=f"relaylink-mp-{index}-{os.getpid()}", shared_group="relaylink",
                                  clean_session=True)
            if not src.wait_connected(20):
                raise RuntimeError(f"worker {index}: broker not reached: {src.last_error}")
            ready.put((index, None))
            go.wait(60)
            svc.bulk("disconnect", euis, profile="eastron_sdm", actor=f"worker-{index}", reason="multi-process test",
                     idempotency_prefix=f"mp-{index}")
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:  # until every process's commands are done: keep dispatching and ingesting
                counts = svc.counts()
                if sum(v for k, v in counts.items() if k not in relaylink.TERMINAL_STATES) == 0 and \
                        sum(counts.values()) >= DEVICES:
                    break
                time.sleep(0.1)
            done_q.put((index, svc.counts(), src.stats()))
    except BaseException as e:  # the parent reports it, whether it is waiting for readiness or for the end
        ready.put((index, repr(e)))
        done_q.put((index, repr(e), None))


def test_four_processes_share_one_sqlite_store(tmp_path):
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
                    "max_queued_messages 100000\n")
    broker_proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = f"tcp://127.0.0.1:{port}"

    def accepts():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    db = str(tmp_path / "shared.db")
    euis = [f"7{i:015X}" for i in range(DEVICES)]
    ctx = mp.get_context("spawn")  # fresh interpreters: nothing of this process's threads is inherited
    procs = []
    try:
        eventually(accepts, timeout=10)
        # Devices report every 10 simulated minutes: at 300x, every 2 s of real time.
        with relaylink.Simulator(speed=300, mqtt_url=broker) as sim:
            for e in euis:
                sim.add_device(e, kind="uc100_sdm320c", uplink_interval=600)
            ready, done_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
            share = DEVICES // PROCESSES
            for i in range(PROCESSES):
                p = ctx.Process(target=worker, args=(i, sim.url, sim.api_key, broker, db, euis[i * share:(i + 1) * share],
                                                     ready, go, done_q))
                p.start()
                procs.append(p)
            starts = [ready.get(timeout=60) for _ in range(PROCESSES)]
            assert all(err is None for _, err in starts), starts
            go.set()  # every process starts creating, dispatching and ingesting at once
            results = [done_q.get(timeout=300) for _ in range(PROCESSES)]
            for p in procs:
                p.join(30)
            failures = [r for r in results if r[2] is None]
            assert not failures, failures

            received = {e: sim.device(e)["downlinks"] for e in euis}
            relays = {e: sim.device(e)["relay_closed"] for e in euis}

        twice = {e: len(d) for e, d in received.items() if len(d) != 1}
        assert not twice, f"devices that did not receive exactly one downlink: {dict(list(twice.items())[:10])}"
        assert not any(relays.values())
        con = sqlite3.connect(db)
        states = dict(con.execute("SELECT state, count(*) FROM commands GROUP BY state").fetchall())
        assert states == {"confirmed": DEVICES}, states
        gaps = con.execute(
            "SELECT c.id, c.version, count(a.sequence), max(a.sequence) FROM commands c JOIN command_events a "
            "ON a.command_id = c.id GROUP BY c.id HAVING count(a.sequence) != max(a.sequence) "
            "OR max(a.sequence) != c.version").fetchall()
        assert gaps == []
        delivered = sum(r[2]["delivered"] for r in results)
        assert delivered > 0 and all(r[2]["delivered"] > 0 for r in results)  # the stream was split between them
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        broker_proc.terminate()
        broker_proc.wait(10)
