#!/usr/bin/env python3
"""relaylink's way of enqueueing a downlink from Python, beside bench/portal_way.py against the same server:
`relaylink.ChirpStackClient.enqueue`, one client (kept-alive connections), from one thread and from 4
(gunicorn's threaded workers; the call releases the GIL). Prints the calls per second of each, one line each:
"1 <rate>" and "4 <rate>".

usage: PYTHONPATH=<build>/python bench/python_way.py BASE_URL CALLS
"""
import sys

import relaylink
from bench_python import rate  # the same timing loop as the drop-in's figures (1 thread, or a pool of N)

FRAME = bytes.fromhex("010500000000CDCA")
EUI = "0102030405060708"


def main(url, calls):
    with relaylink.ChirpStackClient(url=url, api_key="bench-key", auth_header="authorization") as client:
        client.enqueue(EUI, FRAME, f_port=5, confirmed=True)  # the connection opened before timing

        def one(_):
            return bool(client.enqueue(EUI, FRAME, f_port=5, confirmed=True)), "no queue item id"

        for threads in (1, 4):
            print(threads, f"{rate(one, calls, threads):.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
