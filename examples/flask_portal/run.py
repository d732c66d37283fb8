#!/usr/bin/env python3
"""The example portal, served on this machine against relaylink's embedded simulator.

    ./scripts/portal.sh                      # builds relaylink's Python module, then runs this
    PYTHONPATH=build/python python3 examples/flask_portal/run.py [--port 5000] [--speed 60]

Open the printed address and log in as viewer, operator or admin (passwords printed; set
PORTAL_VIEWER_PASSWORD, PORTAL_OPERATOR_PASSWORD, PORTAL_ADMIN_PASSWORD to choose them).
Simulated time runs --speed times faster than real time, so a Class A uplink every 5 minutes
comes every 5 seconds at the default 60x.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from portal import demo  # noqa: E402


def positive(kind: type, what: str):  # type: ignore[no-untyped-def]
    def conv(text: str):  # type: ignore[no-untyped-def]
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be more than 0, got {text!r}")
        return v
    return conv


def port_number(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number 0-65535, got {text!r}") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {v}")
    return v


def main(argv=None) -> int:  # type: ignore[no-untyped-def]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=port_number, default=5000, help="port (default 5000; 0: any free one)")
    ap.add_argument("--data", help="folder for the portal's and relaylink's SQLite files (default: a temporary one, removed at exit)")
    ap.add_argument("--speed", type=positive(float, "--speed"), default=60.0, help="simulated seconds per real second (default 60)")
    ap.add_argument("--uplink-interval", type=positive(float, "--uplink-interval"), default=300.0,
                    help="each device's uplink period in simulated seconds (default 300)")
    ap.add_argument("--idle-timeout", type=positive(int, "--idle-timeout"), default=900, help="log out after this many idle seconds (default 900)")
    ap.add_argument("--time-zone", default="UTC", help="how the pages show times (default UTC), e.g. Africa/Johannesburg")
    ap.add_argument("--window", metavar="HH:MM-HH:MM", help="allow disconnects only in this daily window (the safety guard defers others)")
    args = ap.parse_args(argv)

    safety = {}
    if args.window:
        start_, sep, end_ = args.window.partition("-")
        if not sep:
            ap.error(f"--window must look like 08:00-16:00, got {args.window!r}")
        safety = {"windows": True, "window_start": start_, "window_end": end_, "time_zone": args.time_zone, "outside": "defer"}
    users = {role: (os.environ.get(f"PORTAL_{role.upper()}_PASSWORD") or pw, r) for role, (pw, r) in demo.DEMO_USERS.items()}
    tmp = None
    data = args.data
    if not data:
        tmp = tempfile.TemporaryDirectory(prefix="relaylink-portal-")
        data = tmp.name
    try:
        d = demo.start(data, speed=args.speed, uplink_interval=args.uplink_interval, users=users, safety=safety,
                       config={"PORTAL_IDLE_TIMEOUT": args.idle_timeout, "PORTAL_TIME_ZONE": args.time_zone})
    except (ValueError, OSError) as e:  # relaylink's ConfigError is a ValueError
        print(f"portal: {e}", file=sys.stderr)
        return 2
    try:
        try:
            d.serve(args.host, args.port, background=True)
        except OSError as e:
            print(f"portal: cannot serve on {args.host}:{args.port}: {e.strerror or e} (try --port 0 for any free port)", file=sys.stderr)
            return 2
        print(f"relaylink example portal: {d.url}/   (simulated ChirpStack at {d.sim.url}, time at {args.speed:g}x)")
        for name, (pw, role) in users.items():
            print(f"  log in as {name:<8} password {pw:<14} ({role})")
        print(f"  data in {data}{' (temporary)' if tmp else ''}; Ctrl-C to stop")
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"  warning: served on {args.host} over plain HTTP with demo passwords: anyone who can reach it can log in; "
                  "put it behind TLS and set PORTAL_*_PASSWORD", file=sys.stderr)
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            assert d.thread is not None
            while d.thread.is_alive():
                d.thread.join(0.5)
        except KeyboardInterrupt:
            print("stopping")
    finally:
        d.close()
        if tmp:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
