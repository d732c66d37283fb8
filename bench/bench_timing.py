"""The timing loop of the Python benchmarks (bench_python.py, python_way.py, portal_way.py): relaylink's calls
and the portal's way are timed by the same code. Nothing here imports relaylink."""
from __future__ import annotations

import threading
import time


def rate(fn, calls: int, threads: int) -> float:
    """Calls per second of `fn(i)` for i in range(calls), from `threads` threads that each call in a loop, as
    gunicorn's threaded workers do (not a pool handing each call to a thread: its queue and future cost more
    than a call of relaylink's). `fn` returns (ok, message); the first failure is raised after the run."""
    failures: list[str] = []

    def share(first: int) -> None:
        for i in range(first, calls, threads):
            try:
                ok, msg = fn(i)
            except Exception as e:  # noqa: BLE001 - reported after the run, from the main thread
                ok, msg = False, f"{type(e).__name__}: {e}"
            if not ok:
                failures.append(msg)
                return

    start = time.perf_counter()
    if threads == 1:
        share(0)
    else:
        workers = [threading.Thread(target=share, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    elapsed = time.perf_counter() - start
    assert not failures, failures[0]
    return calls / elapsed
