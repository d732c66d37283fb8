#!/usr/bin/env python3
"""The example portal's polled answers at scale (docs/benchmarks.md, "Example portal"). Figures are
ratios against a baseline measured in the same run.

Every open meters page asks for /api/portal/meters once a second, and a bulk run's page for its
progress. With N meters each holding a relaylink command:

1. The meters list: the portal's list without relay states (its `meters` table to JSON: what the page
   costs without relaylink) is the baseline; against it, relaylink's states looked up per meter (two
   queries a meter) and all at once (two queries in all, what the portal does).
2. A bulk run's progress while running (every item asks relaylink) and once its items are final (kept
   in the portal's table), against the same baseline.

usage: PYTHONPATH=build/python python3 bench/bench_portal.py [--meters N] [--rounds N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "flask_portal"))

import relaylink  # noqa: E402

from portal import create_app, close_app, views  # noqa: E402


def best_of(rounds: int, f: Callable[[], Any]) -> float:
    times: List[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if args.meters < 1 or args.rounds < 1:
        ap.error("--meters and --rounds must be at least 1")

    tmp = tempfile.mkdtemp(prefix="bench-portal-")
    with relaylink.Simulator(manual_time=True) as sim:  # nothing moves: every command stays as created
        euis = [f"{i + 1:016X}" for i in range(args.meters)]
        for e in euis:
            sim.add_device(e, kind="uc100_sdm320c")
        with relaylink.ChirpStackClient.for_simulator(sim) as client, \
                relaylink.RelayService(client, db=os.path.join(tmp, "relaylink.db"), simulator=sim,
                                       safety={"windows": False}) as svc:
            app = create_app(svc, db_path=os.path.join(tmp, "portal.db"), simulator=sim)
            db = app.extensions["portal"].db
            for i, e in enumerate(euis):
                db.add_meter(f"Meter {i + 1}", f"Unit {i + 1}", "Resident", "+27 82 555 0000", e, "eastron_sdm", 0)
            cmds = svc.bulk("disconnect", euis, profile="eastron_sdm", actor="bench", reason="bench")
            for c in cmds:  # queued in ChirpStack, where they stay (no device talks): nothing moves while measuring
                svc.wait(c.id, states=["queued"], timeout=120)
            with db.tx() as tx:
                run_id = tx.execute("INSERT INTO bulk_runs (action, reason, created_by, created_at) "
                                    "VALUES ('disconnect', 'bench', 'bench', datetime('now'))").lastrowid
                tx.executemany("INSERT INTO bulk_items (run_id, meter_id, device_eui, command_id) VALUES (?, ?, ?, ?)",
                               [(run_id, i + 1, c.dev_eui, c.id) for i, c in enumerate(cmds)])

            with app.test_request_context():
                def baseline() -> str:
                    return json.dumps([dict(r) for r in db.meters()])

                def per_meter() -> str:
                    return json.dumps([views.meter_view(m) for m in db.meters()])

                def at_once() -> str:
                    return json.dumps(views.all_meter_views())

                def progress() -> str:
                    return json.dumps(views.run_progress(run_id))

                assert json.loads(at_once()) == json.loads(per_meter())
                base = best_of(args.rounds, baseline)
                t_per = best_of(args.rounds, per_meter)
                t_once = best_of(args.rounds, at_once)
                t_running = best_of(args.rounds, progress)
                with db.tx() as tx:  # as the portal keeps them once final
                    tx.execute("UPDATE bulk_items SET outcome = 'confirmed', detail = '' WHERE run_id = ?", (run_id,))
                t_final = best_of(args.rounds, progress)
            close_app(app)

    n = args.meters
    print(f"{n} meters; medians of {args.rounds} rounds; baseline: the portal's meters table to JSON, {base * 1e3:.2f} ms")
    for name, t in (("meters list, relaylink per meter (2 queries a meter)", t_per),
                    ("meters list, relaylink at once (2 queries)", t_once),
                    ("bulk progress, items still running", t_running),
                    ("bulk progress, items final", t_final)):
        print(f"  {name:<55} {t * 1e3:8.2f} ms  {t / base:6.1f}x baseline  ({n / t:,.0f} meters/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
