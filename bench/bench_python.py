#!/usr/bin/env python3
"""Python benchmarks (docs/benchmarks.md, "Python package"). Every figure is a ratio against a
baseline measured in the same run, against the same simulator on loopback.

1. The drop-in `relaylink.chirpstack_service.send_relay_command` against the portal's own way
   (its `_make_request`: `requests.request` per call, a new connection each time), sequentially
   and from 4 threads (gunicorn's threaded workers).
2. Enqueueing 10,000 disconnects from Python into a RelayService on a SQLite file: one call per
   command, and one `bulk()` call; baseline: the portal's way of recording a command (Python's
   sqlite3, one INSERT and commit per command, the device_commands table of reference/portal.md).
3. ChirpStack's events for N queued disconnects (a txack and the meter's echo each, as JSON) applied from
   Python with one `ingest_batch()` call, against `ingest()` per event in the same run, into SQLite and
   (with --postgres URL) PostgreSQL.

usage: PYTHONPATH=build/python python3 bench/bench_python.py [--calls N] [--commands N] [--rounds N]
       [--events N] [--postgres URL] [--max-batch N] [--only drop-in|bulk|events]
"""
from __future__ import annotations

import argparse
import base64
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import requests

import relaylink
from bench_timing import rate
from relaylink import chirpstack_service

EUI = "0101010101010101"


def portal_send_relay_command(url: str, key: str, eui: str, action: str):
    """The portal's chirpstack_service.send_relay_command, as it is written: requests, no session."""
    payload = bytes.fromhex("010500000000CDCA" if action == "off" else "01050000FF008C3A")
    body = {"queueItem": {"confirmed": False, "data": base64.b64encode(payload).decode("utf-8"), "fPort": 5}}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    try:
        r = requests.request(method="POST", url=f"{url}/api/devices/{eui}/queue", json=body, headers=headers, timeout=30)
    except requests.exceptions.RequestException as e:
        return False, str(e)
    if r.status_code in (200, 201):
        return True, "Downlink queued successfully"
    return False, f"ChirpStack API error: {r.status_code}"


def bench_drop_in(calls: int, rounds: int) -> None:
    with relaylink.Simulator(speed=1) as sim:
        sim.add_device(EUI, uplink_interval=3600)
        os.environ["CHIRPSTACK_API_URL"], os.environ["CHIRPSTACK_API_KEY"] = sim.url, sim.api_key
        ours = lambda i: chirpstack_service.send_relay_command(EUI, "off" if i % 2 else "on")
        theirs = lambda i: portal_send_relay_command(sim.url, sim.api_key, EUI, "off" if i % 2 else "on")
        print("\n## drop-in send_relay_command vs the portal's requests way (calls/s, median of", rounds, "rounds)")
        print("| threads | relaylink drop-in | portal's way (requests) | ratio |\n|---|---|---|---|")
        for threads in (1, 4):
            a, b = [], []
            for _ in range(rounds):  # interleaved, so drift hits both
                b.append(rate(theirs, calls, threads))
                a.append(rate(ours, calls, threads))
                sim.reset()
                sim.add_device(EUI, uplink_interval=3600)
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"| {threads} | {ma:,.0f} | {mb:,.0f} | {ma / mb:.1f}x |")
        chirpstack_service.close_clients()


def portal_records(n: int, path: str) -> float:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("""CREATE TABLE device_commands (id INTEGER PRIMARY KEY, meter_id INTEGER, device_eui TEXT,
                  command_type TEXT, command_data TEXT, status TEXT, priority INTEGER, scheduled_at TEXT, sent_at TEXT,
                  completed_at TEXT, error_message TEXT, retry_count INTEGER, max_retries INTEGER, created_by INTEGER,
                  created_at TEXT)""")
    start = time.perf_counter()
    for i in range(n):
        db.execute("INSERT INTO device_commands (meter_id, device_eui, command_type, command_data, status, priority, "
                   "retry_count, max_retries, created_by, created_at) VALUES (?, ?, 'switch_off', '{}', 'pending', 5, 0, 3, 1, "
                   "datetime('now'))", (i, f"{i:016x}"))
        db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return n / elapsed


def bench_bulk(n: int, rounds: int) -> None:
    euis = [f"{0x7000000000000000 + i:016x}" for i in range(n)]
    results = {"loop": [], "bulk": [], "portal": []}
    with relaylink.Simulator(speed=1) as sim, relaylink.ChirpStackClient.for_simulator(sim) as client:
        for e in euis:
            sim.add_device(e, uplink_interval=3600)
        for r in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                results["portal"].append(portal_records(n, os.path.join(tmp, "portal.db")))
                for how in ("loop", "bulk"):
                    with relaylink.RelayService(client, db=os.path.join(tmp, f"{how}.db"), simulator=sim,
                                                safety={"windows": False}) as svc:
                        start = time.perf_counter()
                        if how == "loop":
                            for e in euis:
                                svc.disconnect(e, profile="eastron_sdm", reason="arrears run", actor="celery")
                        else:
                            svc.bulk("disconnect", euis, profile="eastron_sdm", reason="arrears run", actor="celery")
                        results[how].append(n / (time.perf_counter() - start))
                        assert svc.counts()["failed"] == 0
    p, loop, bulk = (statistics.median(results[k]) for k in ("portal", "loop", "bulk"))
    print(f"\n## {n:,} disconnects from Python into SQLite (commands/s, median of {rounds} rounds)")
    print("| run | commands/s | ratio to the portal's way |\n|---|---|---|")
    print(f"| portal's way: sqlite3 INSERT + commit per command (no lifecycle, no audit) | {p:,.0f} | 1 |")
    print(f"| RelayService.disconnect() per command (lifecycle + audit row, one transaction each) | {loop:,.0f} | {loop / p:.2f}x |")
    print(f"| RelayService.bulk() (one call, GIL released once) | {bulk:,.0f} | {bulk / p:.2f}x |")


def reply_events(cmd, f_cnt: int):
    """A txack and the meter's echo for a queued relay-off, as ChirpStack's JSON."""
    import json
    info = {"tenantId": "t", "tenantName": "bench", "applicationId": "a", "applicationName": "bench", "deviceProfileId": "p",
            "deviceProfileName": "UC100", "deviceName": cmd.dev_eui, "devEui": cmd.dev_eui, "tags": {}}
    txack = {"downlinkId": f_cnt, "time": "2026-11-27T10:00:00Z", "deviceInfo": info, "queueItemId": cmd.queue_item_id,
             "fCntDown": f_cnt, "gatewayId": "0016c001f153a14c"}
    up = {"deduplicationId": f"d-{cmd.id}", "time": "2026-11-27T10:00:05Z", "deviceInfo": info, "devAddr": "00189440",
          "fCnt": f_cnt, "fPort": 5, "confirmed": False, "data": base64.b64encode(bytes(cmd.payload)).decode()}
    return [("txack", json.dumps(txack)), ("up", json.dumps(up))]


def bench_events_batch(n: int, rounds: int, pg_url: str | None, max_batch: int) -> None:
    stores = [("SQLite (WAL, synchronous=NORMAL)", None)] + ([("PostgreSQL", pg_url)] if pg_url else [])
    print(f"\n## ChirpStack's events from Python: {2 * n:,} events for {n:,} queued disconnects (events/s, median of {rounds}, max_batch={max_batch})")
    print("| store | ingest() per event | ingest_batch() | ratio |\n|---|---|---|---|")
    for name, url in stores:
        got = {"each": [], "batch": []}
        for r in range(rounds):
            for how in ("each", "batch"):
                euis = [f"{0x6000000000000000 + i:016x}" for i in range(n)]
                with relaylink.Simulator(manual_time=True) as sim, relaylink.ChirpStackClient.for_simulator(sim) as client, \
                        tempfile.TemporaryDirectory() as tmp:
                    for e in euis:
                        sim.add_device(e, uplink_interval=3600)
                    store = {"db": os.path.join(tmp, "events.db")} if url is None else \
                        {"db": url, "postgres": {"schema": f"bench_events_{os.getpid()}_{r}_{how}"}}
                    with relaylink.RelayService(client, safety={"windows": False}, tick=0.02, max_in_flight=64,
                                                max_batch=max_batch, **store) as svc:
                        cmds = svc.bulk("disconnect", euis, profile="eastron_sdm", reason="bench")
                        deadline = time.monotonic() + 300
                        while svc.counts().get("queued", 0) < n:
                            if time.monotonic() > deadline:
                                raise RuntimeError(f"not all queued: {svc.counts()}")
                            time.sleep(0.01)
                        events = [e for k, c in enumerate(cmds) for e in reply_events(svc.command(c.id), k + 1)]
                        start = time.perf_counter()
                        if how == "each":
                            for kind, payload in events:
                                svc.ingest(kind, payload)
                        else:
                            svc.ingest_batch(events)
                        got[how].append(len(events) / (time.perf_counter() - start))
                        assert svc.counts().get("confirmed") == n, svc.counts()
        each, batch = statistics.median(got["each"]), statistics.median(got["batch"])
        print(f"| {name} | {each:,.0f} | {batch:,.0f} | {batch / each:.1f}x |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500, help="calls per round for the drop-in comparison")
    ap.add_argument("--commands", type=int, default=10000, help="commands for the bulk comparison")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--events", type=int, default=5000, help="queued disconnects whose events are applied")
    ap.add_argument("--postgres", help="a PostgreSQL URL for the events comparison (schemas bench_events_* are created)")
    ap.add_argument("--max-batch", type=int, default=512, help="RelayService(max_batch=…): events per transaction")
    ap.add_argument("--only", choices=["drop-in", "bulk", "events"], help="run one comparison")
    a = ap.parse_args()
    if a.calls < 1 or a.commands < 1 or a.rounds < 1 or a.events < 1 or not 1 <= a.max_batch <= 100000:
        ap.error("--calls, --commands, --events and --rounds must be at least 1, --max-batch 1-100000")
    print(f"relaylink {relaylink.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if a.only in (None, "drop-in"):
        bench_drop_in(a.calls, a.rounds)
    if a.only in (None, "bulk"):
        bench_bulk(a.commands, a.rounds)
    if a.only in (None, "events"):
        bench_events_batch(a.events, a.rounds, a.postgres, a.max_batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
