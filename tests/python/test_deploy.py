"""The deployment of docs/deploying.md, run for real: the portal's web side under gunicorn (two workers,
each with its own RelayService made in `post_fork`, recycled every few requests) and its Celery worker
(prefork, a service per pool process made in `worker_process_init`) share one store, SQLite or
PostgreSQL, against the simulator (manual time: what is queued stays queued). Checked: every command
queued exactly once, each claimed by the process that was meant to (web-<pid>, celery-<pid>), a task run
twice creates nothing twice, and bad settings stop the process with the variable named."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

import relaylink
from conftest import REPO, eventually, free_port, fresh_schema, stop_process as stop

DEPLOY = REPO / "examples" / "deploy"
TOKEN = "portal-token-0123456789"
if os.environ.get("RELAYLINK_REQUIRE_DEPLOY"):  # scripts/test.sh installs them: missing is a failure there
    import celery  # noqa: F401
    import gunicorn  # noqa: F401
else:
    pytest.importorskip("gunicorn")
    pytest.importorskip("celery")


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request, tmp_path):
    """The environment naming the shared store, as the portal's processes get it."""
    if request.param == "sqlite":
        return {"RELAYLINK_DB": str(tmp_path / "portal.db")}
    return {"RELAYLINK_DB": request.getfixturevalue("postgres_server"), "RELAYLINK_SCHEMA": fresh_schema("deploy")}


def child_env(sim, store_env, **extra):
    env = dict(os.environ, CHIRPSTACK_API_URL=sim.url, CHIRPSTACK_API_KEY=sim.api_key, RELAYLINK_SAFETY='{"windows": false}',
               **store_env, **extra)
    # the relaylink these tests import (build tree or installed), for the children too
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__))),
                                         env.get("PYTHONPATH", "")])
    return env


def reader(sim, store_env):
    """A service on the same store, opened once the portal's processes have stopped, to read what they did."""
    kw = {"db": store_env["RELAYLINK_DB"]}
    if "RELAYLINK_SCHEMA" in store_env:
        kw["postgres"] = {"schema": store_env["RELAYLINK_SCHEMA"]}
    return relaylink.RelayService(relaylink.ChirpStackClient(url=sim.url, api_key=sim.api_key), instance="test-reader",
                                  safety={"windows": False}, **kw)


def claimers(svc, command_id):
    return [e.detail.removeprefix("claimed by ") for e in svc.command(command_id).events if e.detail.startswith("claimed by ")]




def post(port, path, body, user="ops"):
    r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                               headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                                        "X-Portal-User": user})
    try:
        with urllib.request.urlopen(r, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_gunicorn_workers_each_with_their_own_service_queue_every_command_once(quiet_sim, store_env, tmp_path):
    euis = [f"7{i:015X}" for i in range(12)]
    for e in euis:
        quiet_sim.add_device(e)
    port = free_port()
    env = child_env(quiet_sim, store_env, PORTAL_TOKEN=TOKEN, PORTAL_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2",
                    PORTAL_MAX_REQUESTS="4", RELAYLINK_CLAIM_TIMEOUT="2")
    log = open(tmp_path / "gunicorn.log", "w+")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "--chdir", str(DEPLOY),
                            "webapp:app"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/whoami", timeout=2) as r:
                    return json.loads(r.read())
            except OSError:
                return None
        eventually(up, timeout=30, interval=0.1)
        # A request without the reason the portal requires is refused by the worker, nothing created.
        status, body = post(port, f"/api/v1/meters/{euis[0]}/relay", {"action": "off"})
        assert status == 400 and "reason" in body["message"], body
        # Operators' clicks, four at a time: every worker is recycled after 4 requests (max_requests).
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda e: post(port, f"/api/v1/meters/{e}/relay", {"action": "off", "reason": "arrears"}),
                                    euis))
        assert [s for s, _ in answers] == [200] * len(euis), answers
        ids = [b["command_id"] for _, b in answers]
        assert len(set(ids)) == len(euis)
        # Dispatched by the workers (a recycled worker's pending commands by the next one): one item per device.
        eventually(lambda: all(quiet_sim.device(e)["queue_length"] >= 1 for e in euis), timeout=30, interval=0.05)
    finally:
        stop(web)
        log.seek(0)
        output = log.read()
    assert output.count("Booting worker") >= 4, output  # workers were recycled during the run
    assert "Traceback" not in output, output
    assert [quiet_sim.device(e)["queue_length"] for e in euis] == [1] * len(euis)  # exactly once
    with reader(quiet_sim, store_env) as svc:
        owners = {o for i in ids for o in claimers(svc, i)}
        assert all(svc.command(i).state == "queued" for i in ids)
        assert owners and all(o.startswith("web-") for o in owners), owners
        assert {svc.command(i).created_by for i in ids} == {"ops"}


def test_a_worker_that_cannot_start_its_service_says_which_setting(quiet_sim, tmp_path):
    port = free_port()
    env = child_env(quiet_sim, {}, PORTAL_TOKEN=TOKEN, PORTAL_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
    env.pop("RELAYLINK_DB", None)
    r = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "--chdir", str(DEPLOY),
                        "webapp:app"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "RELAYLINK_DB must name the shared store" in r.stderr, r.stderr


def test_the_deploy_settings_refuse_bad_values(monkeypatch):
    sys.path.insert(0, str(DEPLOY))
    try:
        import relay
    finally:
        sys.path.remove(str(DEPLOY))
    for name, value, words in [("RELAYLINK_DB", " ", "RELAYLINK_DB must name"),
                               ("RELAYLINK_POOL_SIZE", "0", "RELAYLINK_POOL_SIZE must be 1-64"),
                               ("RELAYLINK_POOL_SIZE", "two", "RELAYLINK_POOL_SIZE must be a number"),
                               ("RELAYLINK_SAFETY", "{windows: false}", "RELAYLINK_SAFETY must be a JSON object"),
                               ("RELAYLINK_SAFETY", "[1]", "RELAYLINK_SAFETY must be a JSON object")]:
        monkeypatch.setenv("RELAYLINK_DB", "postgresql://portal@db.internal/portal")
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=words):
            relay.store_settings()
            relay.safety_settings()
        monkeypatch.delenv(name)
    monkeypatch.setenv("RELAYLINK_CLAIM_TIMEOUT", "0.5")
    monkeypatch.setenv("RELAYLINK_DB", ":memory:")
    monkeypatch.setenv("CHIRPSTACK_API_KEY", "k")  # without one, from_env() refuses first, naming it
    with pytest.raises(ValueError, match="RELAYLINK_CLAIM_TIMEOUT must be 1-86400"):
        relay.start("test")
    assert relay.service is None


@pytest.mark.timeout(600)  # the worker's boot and three tasks through its broker, on a loaded machine
def test_celery_workers_run_the_daily_task_once_per_meter_and_day(quiet_sim, postgres_server, tmp_path):
    # On PostgreSQL only, as deploying.md has it: the store side is the same as gunicorn's (tested on both),
    # and a Celery worker takes seconds to stop.
    store_env = {"RELAYLINK_DB": postgres_server, "RELAYLINK_SCHEMA": fresh_schema("celery")}
    euis = [f"8{i:015X}" for i in range(10)]
    for e in euis:
        quiet_sim.add_device(e)
    folder = tmp_path / "celery"
    (folder / "results").mkdir(parents=True)
    env = child_env(quiet_sim, store_env, CELERY_FOLDER=str(folder))
    log = open(tmp_path / "celery.log", "w+")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "--workdir", str(DEPLOY), "-A", "tasks", "worker",
                               "--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat",
                               "--loglevel", "INFO"], env=env, stdout=log, stderr=subprocess.STDOUT)
    # The portal's side sends the tasks: the same module, the same broker.
    code = ("import json, sys, tasks\n"
            "euis = json.loads(sys.argv[1])\n"
            "runs = [tasks.disconnect_zero_balances.delay(euis, '2026-11-27') for _ in range(2)]\n"
            # Bounds, not waits: beside two builds one task took over a minute to come back.
            "out = [r.get(timeout=240) for r in runs]\n"
            "bad = tasks.disconnect_zero_balances.delay(euis, '2026-13-01')\n"
            "try:\n    bad.get(timeout=240)\nexcept ValueError as e:\n    out.append(str(e))\n"
            "print(json.dumps(out))\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, json.dumps(euis)], env=env, cwd=DEPLOY, capture_output=True,
                           text=True, timeout=540)
        assert r.returncode == 0, r.stdout + r.stderr + "\nthe worker's log:\n" + open(tmp_path / "celery.log").read()[-3000:]
        first, second, refused = json.loads(r.stdout)
        assert [c["id"] for c in first] == [c["id"] for c in second]  # the task run twice created nothing twice
        assert [c["dev_eui"] for c in first] == euis
        assert "month must be in 1..12" in refused
        eventually(lambda: all(quiet_sim.device(e)["queue_length"] >= 1 for e in euis), timeout=30, interval=0.05)
    finally:
        stop(worker, timeout=30)
        log.seek(0)
        output = log.read()
    assert output.count("succeeded") == 2 and output.count("raised unexpected: ValueError") == 1, output
    assert [quiet_sim.device(e)["queue_length"] for e in euis] == [1] * len(euis)
    assert (folder / "broker.db").exists() and not (DEPLOY / "control").exists()  # the broker kept to its folder
    with reader(quiet_sim, store_env) as svc:
        ids = [c["id"] for c in first]
        assert sum(svc.counts().values()) == len(euis)
        owners = {o for i in ids for o in claimers(svc, i)}
        assert owners and all(o.startswith("celery-") for o in owners), owners
        assert {svc.command(i).created_by for i in ids} == {"celery:daily"}
        assert {svc.command(i).idempotency_key for i in ids} == {f"daily-2026-11-27:{e}" for e in euis}
