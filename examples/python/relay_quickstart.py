#!/usr/bin/env python3
"""relaylink from Python, on the embedded simulator: disconnect an SDM320C (behind a UC100) and an
IVY, watch each command go pending -> queued -> sent -> confirmed, reconnect, print the audit trail;
then the portal's drop-in call. Runs in a few seconds (simulated time at 600x).

usage: PYTHONPATH=build/python python3 examples/python/relay_quickstart.py [--db FILE]
"""
from __future__ import annotations

import argparse
import os
import sys

import relaylink
from relaylink import chirpstack_service

SDM, IVY = "0101010101010101", "0202020202020202"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=":memory:", help="SQLite file for the commands (default: in memory)")
    args = ap.parse_args()

    with relaylink.Simulator(speed=600) as sim:
        sim.add_device(SDM, kind="uc100_sdm320c", uplink_interval=600)
        sim.add_device(IVY, kind="ivy_em114039", uplink_interval=600)
        print(f"simulated ChirpStack at {sim.url}, 2 meters, time at 600x")
        with relaylink.ChirpStackClient.for_simulator(sim) as client, \
                relaylink.RelayService(client, db=args.db, simulator=sim, safety={"windows": False}) as svc:
            svc.subscribe(lambda ch: print(f"  #{ch.command.id} {ch.from_state or '(new)'} -> {ch.to_state}: {ch.cause}"))
            failures = 0
            for eui, profile in ((SDM, "eastron_sdm"), (IVY, "ivy_em114")):
                for action in ("disconnect", "reconnect"):
                    print(f"{action} {eui} ({profile})")
                    submit = svc.disconnect if action == "disconnect" else svc.reconnect
                    cmd = submit(eui, profile=profile, actor="quickstart", reason="demo")
                    done = svc.wait(cmd.id, timeout=60)
                    closed = sim.device(eui)["relay_closed"]
                    ok = done.state == "confirmed" and closed == (action == "reconnect")
                    failures += not ok
                    print(f"  => {done.state} ({done.evidence}); the simulated relay is {'closed' if closed else 'open'}"
                          f"{'' if ok else '  <-- unexpected'}")
            last = svc.command(cmd.id)
            print(f"audit trail of command #{last.id}:")
            for e in last.events:
                print(f"  {e.sequence}. {e.at:%H:%M:%S} {e.from_state or '(new)'} -> {e.to_state} by {e.actor}: {e.cause}")

        os.environ.update(CHIRPSTACK_API_URL=sim.url, CHIRPSTACK_API_KEY=sim.api_key)
        print("the portal's call, through the drop-in:",
              chirpstack_service.send_relay_command(SDM, "off"))
        chirpstack_service.close_clients()
    print("all confirmed" if failures == 0 else f"{failures} unexpected outcome(s)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
