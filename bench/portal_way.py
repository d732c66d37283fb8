#!/usr/bin/env python3
"""The portal's way of enqueueing a downlink, for comparison: Python `requests`, a new connection per
call, a 30-second timeout (app/services/chirpstack_service.py). Prints calls per second.

usage: bench/portal_way.py BASE_URL CALLS
"""
import base64
import sys
import time

import requests


def main(url, calls):
    payload = {"queueItem": {"confirmed": True, "fPort": 5,
                             "data": base64.b64encode(bytes.fromhex("010500000000CDCA")).decode()}}
    headers = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}
    start = time.perf_counter()
    for _ in range(calls):
        r = requests.post(f"{url}/api/devices/0102030405060708/queue", json=payload, headers=headers, timeout=30)
        if r.status_code != 200:
            sys.exit(f"unexpected status {r.status_code}")
    elapsed = time.perf_counter() - start
    print(f"{calls / elapsed:.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
