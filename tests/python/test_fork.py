"""Objects with an I/O thread after fork() (gunicorn --preload, Celery's prefork pool): in the child
a call raises a clear error instead of waiting for ever, and dropping the object does not hang; the
parent's object keeps working; the drop-in makes itself a new client in the child."""
import os
import signal
import sys
import time

import pytest

import relaylink
from relaylink import chirpstack_service
from conftest import SDM

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


def in_child(body):
    """Run body() in a forked child; its exit status is the result (0 = passed)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = body()
        except BaseException as e:  # report and fail
            print(f"child failed: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung (an inherited object waited for a thread that is not there)")


def test_inherited_objects_refuse_calls_in_the_child_and_can_be_dropped(chirpstack_env):
    sim = chirpstack_env
    client = relaylink.ChirpStackClient.for_simulator(sim)
    svc = relaylink.RelayService(client, db=":memory:")
    assert chirpstack_service.get_device_queue(SDM)[0]  # the drop-in has a client now

    def child():
        for call in (lambda: client.get_queue(SDM), lambda: svc.counts(), lambda: sim.device(SDM)):
            try:
                call()
                return 2
            except RuntimeError as e:
                if "created in another process" not in str(e):
                    return 3
        ok, queue = chirpstack_service.get_device_queue(SDM)  # a fresh client, in this process
        if not ok:
            return 4
        svc.close()
        client.close()  # neither may hang
        return 0

    assert in_child(child) == 0
    assert client.get_queue(SDM) == [] and svc.counts()["pending"] == 0  # the parent's still work
    svc.close()
    client.close()
