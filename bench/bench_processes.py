#!/usr/bin/env python3
"""Several processes on one store (docs/benchmarks.md, "Several processes"): commands/s and events/s
with 1, 2 and 4 processes on SQLite and on PostgreSQL. Figures are ratios against a baseline measured
in the same run: one process on SQLite.

For each store and process count, N meters (default 2,000) of a simulator whose devices never uplink
(manual time: what is queued stays queued), and P spawned processes, each with its own client and
RelayService on the shared store:

1. commands: each process creates its N/P disconnects in one bulk call and dispatches them (claim,
   enqueue to the simulator's REST API, record the queue item) until all N are `queued`;
   commands/s = N / the wall time from the start signal to the last process done.
2. events: each process applies ChirpStack's events for its commands — a txack (queued → sent) and the
   meter's reply uplink (sent → confirmed) — through `RelayService.ingest`, one transaction each (what
   the HTTP integration does); events/s = 2N / the wall time.

PostgreSQL is a throw-away server started by tests/support/pg_server.sh (fsync off, as for the tests);
SQLite is WAL with synchronous=NORMAL (relaylink's default). Both on the same disk.

usage: PYTHONPATH=build/python python3 bench/bench_processes.py [--meters N] [--processes 1,2,4] [--no-postgres]
"""
from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Tuple

import relaylink

HERE = os.path.dirname(os.path.abspath(__file__))
PG_SERVER = os.path.join(HERE, "..", "tests", "support", "pg_server.sh")
ECHO_OFF = base64.b64encode(bytes.fromhex("01050000 0000CDCA".replace(" ", ""))).decode()


def device_info(eui: str) -> Dict[str, Any]:
    return {"tenantId": "t", "tenantName": "bench", "applicationId": "a", "applicationName": "bench",
            "deviceProfileId": "p", "deviceProfileName": "UC100", "deviceName": eui, "devEui": eui, "tags": {}}


def events_for(command: Any, f_cnt: int) -> List[Tuple[str, str]]:
    info = device_info(command.dev_eui)
    txack = {"downlinkId": f_cnt, "time": "2026-11-27T10:00:00Z", "deviceInfo": info, "queueItemId": command.queue_item_id,
             "fCntDown": f_cnt, "gatewayId": "0016c001f153a14c"}
    up = {"deduplicationId": f"d-{command.id}", "time": "2026-11-27T10:00:05Z", "deviceInfo": info, "devAddr": "00189440",
          "fCnt": f_cnt, "fPort": 5, "confirmed": False, "data": ECHO_OFF}
    return [("txack", json.dumps(txack)), ("up", json.dumps(up))]


def worker(index: int, sim_url: str, api_key: str, store: Dict[str, Any], euis: List[str], total: int, ready, go,
           go_events, results) -> None:
    try:
        with relaylink.ChirpStackClient(url=sim_url, api_key=api_key) as client, \
                relaylink.RelayService(client, safety={"windows": False}, tick=0.02, max_in_flight=16, **store) as svc:
            ready.put((index, None))
            go.wait(120)
            t = time.perf_counter()
            mine = svc.bulk("disconnect", euis, profile="eastron_sdm", actor=f"bench-{index}", reason="benchmark")
            ids = [c.id for c in mine]
            deadline = time.monotonic() + 120
            while True:
                counts = svc.counts()
                if counts.get("queued", 0) >= total:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"process {index}: not all queued after 120 s: {counts}, {svc.stats()}")
                time.sleep(0.005)
            dispatch = time.perf_counter() - t
            events = [e for n, i in enumerate(ids) for e in events_for(svc.command(i), n + 1)]
            ready.put((index, None))
            go_events.wait(120)  # set once every process is done dispatching: all start ingesting at once
            t = time.perf_counter()
            for kind, payload in events:
                svc.ingest(kind, payload)
            ingest = time.perf_counter() - t
            confirmed = sum(1 for i in ids if svc.command(i).state == "confirmed")
            results.put((index, dispatch, ingest, len(events), confirmed, svc.stats()["conflicts"]))
    except BaseException as e:  # reported by the parent
        ready.put((index, repr(e)))
        results.put((index, repr(e), 0, 0, 0, 0))


def run(store: Dict[str, Any], processes: int, meters: int) -> Tuple[float, float, int]:
    euis = [f"5{i:015X}" for i in range(meters)]
    ctx = mp.get_context("spawn")
    with relaylink.Simulator(manual_time=True) as sim:
        for e in euis:
            sim.add_device(e, kind="uc100_sdm320c", uplink_interval=600)
        ready, results = ctx.Queue(), ctx.Queue()
        go, go_events = ctx.Event(), ctx.Event()
        share = (meters + processes - 1) // processes
        procs = [ctx.Process(target=worker, args=(i, sim.url, sim.api_key, store, euis[i * share:(i + 1) * share], meters,
                                                  ready, go, go_events, results)) for i in range(processes)]
        for p in procs:
            p.start()
        try:
            for _ in procs:
                _, err = ready.get(timeout=120)
                if err:
                    raise RuntimeError(err)
            t = time.perf_counter()
            go.set()
            for _ in procs:  # every process has seen all commands queued
                _, err = ready.get(timeout=600)
                if err:
                    raise RuntimeError(err)
            dispatch = time.perf_counter() - t
            t = time.perf_counter()
            go_events.set()
            out = [results.get(timeout=600) for _ in procs]
            ingest = time.perf_counter() - t
            for p in procs:
                p.join(30)
        finally:  # a process that failed leaves the others waiting: end them, not hang until their timeouts
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join(10)
    if any(isinstance(r[1], str) for r in out):
        raise RuntimeError(out)
    confirmed = sum(r[4] for r in out)
    if confirmed != meters:
        raise RuntimeError(f"{confirmed} of {meters} confirmed")
    events = sum(r[3] for r in out)
    return meters / dispatch, events / ingest, sum(r[5] for r in out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=2000)
    ap.add_argument("--processes", default="1,2,4")
    ap.add_argument("--no-postgres", action="store_true")
    a = ap.parse_args()
    try:
        counts = [int(x) for x in a.processes.split(",")]
        if not counts or any(c < 1 or c > 16 for c in counts):
            raise ValueError
    except ValueError:
        print(f"bench_processes: --processes must be a comma-separated list of 1-16, got {a.processes!r}", file=sys.stderr)
        return 2
    if a.meters < 10:
        print(f"bench_processes: --meters must be at least 10, got {a.meters}", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="relaylink-bench-")
    stores: List[Tuple[str, Any]] = [("sqlite", lambda n: {"db": os.path.join(tmp, f"bench-{n}.db")})]
    pg_dir = f"/tmp/relaylink-bench-pg-{os.getpid()}"
    if not a.no_postgres:
        r = subprocess.run([PG_SERVER, "start", pg_dir], capture_output=True, text=True)
        if r.returncode == 0:
            url = r.stdout.strip()
            stores.append(("postgres", lambda n: {"db": url, "postgres": {"schema": f"bench_{n}", "pool_size": 4}}))
        else:
            print(f"(no PostgreSQL: {r.stderr.strip()})")
    try:
        rows = []
        for name, make in stores:
            for p in counts:
                try:
                    cps, eps, conflicts = run(make(f"{name}_{p}"), p, a.meters)
                except RuntimeError as e:
                    print(f"bench_processes: {name} with {p} process(es) failed: {e}", file=sys.stderr)
                    return 1
                rows.append((name, p, cps, eps, conflicts))
                print(f"  {name:8} {p} process(es): {cps:8.0f} commands/s  {eps:8.0f} events/s  ({conflicts} conflicts)", flush=True)
    finally:
        if not a.no_postgres:
            subprocess.run([PG_SERVER, "stop", pg_dir], capture_output=True)
    base_c, base_e = rows[0][2], rows[0][3]
    print(f"\nbaseline: 1 process on SQLite, {base_c:.0f} commands/s, {base_e:.0f} events/s ({a.meters} meters)")
    print(f"{'store':10}{'processes':>10}{'commands/s':>12}{'ratio':>8}{'events/s':>10}{'ratio':>8}")
    for name, p, cps, eps, _ in rows:
        print(f"{name:10}{p:>10}{cps:>12.0f}{cps / base_c:>7.2f}x{eps:>10.0f}{eps / base_e:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
