#!/usr/bin/env python3
"""relaylink's way of enqueueing a downlink from Python, beside bench/portal_way.py against the same server:
`relaylink.ChirpStackClient.enqueue`, one client (kept-alive connections), from one thread and from 4
(gunicorn's threaded workers; the call releases the GIL). Prints the calls per second of each, one line each:
"1 <rate>" and "4 <rate>"; then "bare <rate>": a bare blocking socket sending the same request and reading
its answer, one thread, nothing else — the floor a sequential caller cannot get under (one loopback round trip
to the server a call).

usage: PYTHONPATH=<build>/python bench/python_way.py BASE_URL CALLS
"""
import socket
import sys
from urllib.parse import urlsplit

import relaylink
from bench_timing import rate  # the same timing loop as the portal's way (bench/portal_way.py)

FRAME = bytes.fromhex("010500000000CDCA")
EUI = "0102030405060708"


def main(url, calls):
    with relaylink.ChirpStackClient(url=url, api_key="bench-key", auth_header="authorization") as client:
        client.enqueue(EUI, FRAME, f_port=5, confirmed=True)  # the connection opened before timing

        def one(_):
            return bool(client.enqueue(EUI, FRAME, f_port=5, confirmed=True)), "no queue item id"

        for threads in (1, 4):
            print(threads, f"{rate(one, calls, threads):.1f}")
    print("bare", f"{bare_socket(url, calls):.1f}")


def bare_socket(url, calls):
    """The same POST as relaylink's, written and read on one kept-alive socket; the answer (nginx's short JSON)
    arrives in one segment, so one recv is the whole of it."""
    u = urlsplit(url)
    body = b'{"queueItem":{"confirmed":true,"fPort":5,"data":"AQUAAAAAzco="}}'
    request = (f"POST /api/devices/{EUI}/queue HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: relaylink/0.1\r\n"
               f"Accept: application/json\r\nAuthorization: Bearer bench-key\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection((u.hostname, u.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def one(_):
            s.sendall(request)
            answer = s.recv(65536)
            return answer.startswith(b"HTTP/1.1 200"), f"unexpected answer {answer[:40]!r}"

        one(0)
        return rate(one, calls, 1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
