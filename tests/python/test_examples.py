"""The Python example runs and says what it should; the benchmark script refuses bad arguments."""
import os
import subprocess
import sys


import relaylink
from conftest import REPO


def run(*args, timeout=120):
    env = dict(os.environ)
    # the relaylink these tests import (build tree or installed), for the child too
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__))), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def test_quickstart_confirms_every_command():
    r = run("examples/python/relay_quickstart.py")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.count("=> confirmed (device_replied)") == 4
    assert "the simulated relay is open" in out and "the simulated relay is closed" in out
    assert "(True, 'Downlink queued successfully')" in out
    assert out.rstrip().endswith("all confirmed")


def test_quickstart_refuses_unknown_options():
    r = run("examples/python/relay_quickstart.py", "--dbb", "x")
    assert r.returncode == 2 and "unrecognized arguments: --dbb" in r.stderr


def test_bench_script_refuses_bad_arguments():
    r = run("bench/bench_python.py", "--commands", "0")
    assert r.returncode == 2 and "must be at least 1" in r.stderr
