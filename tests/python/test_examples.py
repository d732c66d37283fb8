"""The Python example runs and says what it should; the benchmark script refuses bad arguments."""
import os
import subprocess
import sys


import relaylink
from conftest import REPO, eventually


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
    r = run("bench/bench_python.py", "--max-batch", "0")
    assert r.returncode == 2 and "--max-batch 1-100000" in r.stderr


def test_bench_events_comparison_runs():
    r = run("bench/bench_python.py", "--only", "events", "--events", "30", "--rounds", "1", "--max-batch", "8")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "60 events for 30 queued disconnects" in r.stdout and "| SQLite" in r.stdout and "x |" in r.stdout


def test_bench_portal_runs_and_refuses_bad_arguments():
    r = run("bench/bench_portal.py", "--meters", "0")
    assert r.returncode == 2 and "must be at least 1" in r.stderr
    r = run("bench/bench_portal.py", "--meters", "20", "--rounds", "1")
    assert r.returncode == 0, r.stderr
    assert "20 meters" in r.stdout and r.stdout.count("x baseline") == 4


def test_bench_processes_runs_and_refuses_bad_arguments():
    r = run("bench/bench_processes.py", "--processes", "0,2")
    assert r.returncode == 2 and "--processes must be" in r.stderr
    r = run("bench/bench_processes.py", "--meters", "3")
    assert r.returncode == 2 and "--meters must be at least 10" in r.stderr
    r = run("bench/bench_processes.py", "--meters", "20", "--processes", "1,2", "--no-postgres")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "baseline: 1 process on SQLite" in r.stdout and r.stdout.count("x") >= 4


def test_portal_run_py_serves_and_stops_on_ctrl_c():
    import re
    import signal
    import urllib.request
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__))), env.get("PYTHONPATH", "")])
    env["PORTAL_ADMIN_PASSWORD"] = "chosen-in-env"
    # A terminal's foreground process gets SIGINT with its default action. A shell without job control
    # (a script's "cmd &") starts its background children with SIGINT ignored, and Python then installs
    # no KeyboardInterrupt handler: give the child what a terminal would, whoever started pytest.
    p = subprocess.Popen([sys.executable, "examples/flask_portal/run.py", "--port", "0"], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = p.stdout.readline()
        m = re.search(r"relaylink example portal: (http://127\.0\.0\.1:\d+)/", first)
        assert m, first + p.stderr.read()
        banner = "".join(p.stdout.readline() for _ in range(4))
        assert "admin    password chosen-in-env" in banner and "(temporary)" in banner
        with urllib.request.urlopen(m.group(1) + "/login", timeout=10) as resp:
            assert resp.status == 200 and "Log in" in resp.read().decode()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "stopping" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_portal_and_deploy_examples_are_mypy_strict_clean(tmp_path):
    import importlib.util
    import pytest
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    env = dict(os.environ)
    env["MYPYPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__)))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path), "portal", "run.py",
                        # the deployment's typed modules (tasks.py is Celery's: untyped decorators)
                        "../deploy/relay.py", "../deploy/webapp.py", "../deploy/monitor.py"],
                       capture_output=True, text=True, cwd=REPO / "examples" / "flask_portal", env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_monitor_refuses_bad_arguments_and_a_missing_key():
    r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "localhost:1883")
    assert r.returncode == 2 and "--broker must be a URL" in r.stderr
    r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "tcp://h:1", "--claim-timeout", "0")
    assert r.returncode == 2 and "--claim-timeout must be at least 1" in r.stderr
    r = run("examples/deploy/monitor.py", "--broker", "tcp://h:1")
    assert r.returncode == 2 and "--db" in r.stderr
    r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "ssl://h:1", "--cert", __file__)
    assert r.returncode == 2 and "--cert and --tls-key go together" in r.stderr
    r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "ssl://h:1", "--ca", "/nonexistent/ca.pem")
    assert r.returncode == 2 and "--ca: no such file '/nonexistent/ca.pem'" in r.stderr
    os.environ["RELAYLINK_MQTT_PASSWORD"] = "pw"
    try:
        r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "tcp://h:1")
    finally:
        del os.environ["RELAYLINK_MQTT_PASSWORD"]
    assert r.returncode == 2 and "RELAYLINK_MQTT_PASSWORD is set but --username is not" in r.stderr
    env_key = os.environ.pop("CHIRPSTACK_API_KEY", None)
    try:
        r = run("examples/deploy/monitor.py", "--db", "x.db", "--broker", "tcp://h:1")
    finally:
        if env_key is not None:
            os.environ["CHIRPSTACK_API_KEY"] = env_key
    assert r.returncode == 2 and "CHIRPSTACK_API_KEY" in r.stderr


def test_monitor_applies_the_events_a_portal_process_waits_for(broker, tmp_path):
    """The deployment's split: this test is a portal worker (API calls and dispatch, no event source); the
    monitor, another process, applies ChirpStack's events from MQTT to the shared SQLite file."""
    import signal
    db = str(tmp_path / "shared.db")
    eui = "0101010101010101"
    with relaylink.Simulator(speed=300, mqtt_url=broker, mqtt_qos=1) as sim:
        sim.add_device(eui, uplink_interval=600)
        env = dict(os.environ, CHIRPSTACK_API_KEY=sim.api_key,
                   PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__))),
                                               os.environ.get("PYTHONPATH", "")]))
        mon = subprocess.Popen([sys.executable, "examples/deploy/monitor.py", "--db", db, "--broker", broker,
                                "--chirpstack-url", sim.url, "--instance", "monitor-1", "--stats-every", "0.5"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = mon.stdout.readline()
            assert "listening on " + broker in first, first + mon.stderr.read()
            with relaylink.ChirpStackClient.for_simulator(sim) as client, \
                    relaylink.RelayService(client, db=db, safety={"windows": False}, tick=0.05, instance="web-1") as web:
                c = web.disconnect(eui, profile="eastron_sdm", actor="alice", reason="arrears")
                eventually(lambda: web.command(c.id).state == "confirmed", timeout=30)
                assert web.stats()["events"] == 0  # every event was applied by the monitor
                assert sim.device(eui)["relay_closed"] is False
            mon.send_signal(signal.SIGTERM)
            out, err = mon.communicate(timeout=20)
            assert mon.returncode == 0, out + err
            assert "monitor: stopping" in out and "'delivered': 0" not in out.splitlines()[-1]
        finally:
            if mon.poll() is None:
                mon.kill()
