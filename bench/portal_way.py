#!/usr/bin/env python3
"""The portal's way of enqueueing a downlink, for comparison: Python `requests`, a new connection per
call, a 30-second timeout (app/services/chirpstack_service.py), from one thread and from 4 (gunicorn's threaded
workers). Prints the calls per second of each, one line each: "1 <rate>" and "4 <rate>" (bench/python_way.py's
format, timed by the same loop: bench/bench_timing.py).

usage: bench/portal_way.py BASE_URL CALLS
"""
import base64
import sys

import requests

from bench_timing import rate


def main(url, calls):
    payload = {"queueItem": {"confirmed": True, "fPort": 5,
                             "data": base64.b64encode(bytes.fromhex("010500000000CDCA")).decode()}}
    headers = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}

    def one(_):
        r = requests.post(f"{url}/api/devices/0102030405060708/queue", json=payload, headers=headers, timeout=30)
        return r.status_code == 200, f"unexpected status {r.status_code}"

    for threads in (1, 4):
        print(threads, f"{rate(one, calls, threads):.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
