"""relaylink inside an app built like the operators' portal (tests/python/quantify_like, issue 19): the portal's
own relay view on the drop-in, then the same route served by relaylink's Flask extension with the portal's
decorators, its meter lookup, its log_action and its device_commands table kept in step — on SQLite and on
PostgreSQL — and the deployment: gunicorn --preload with two workers, and a Celery worker that never calls
create_app()."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List

import pytest

pytest.importorskip("flask_sqlalchemy")
pytest.importorskip("flask_login")

import relaylink  # noqa: E402
from conftest import IVY, REPO, SDM, eventually, free_port, stop_process as _stop  # noqa: E402

HERE = REPO / "tests" / "python"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from quantify_like import create_app  # noqa: E402
from quantify_like.db import db  # noqa: E402
from quantify_like.extensions import relay  # noqa: E402
from quantify_like.models import AuditLog, DeviceCommand, Meter, Permission, Role, User  # noqa: E402

EASTRON_OFF = bytes.fromhex("010500000000CDCA")
IVY_TYPES = ("ivy_em114",)
EASTRON_TYPES = (None, "eastron_sdm", "sdm", "eastron_sdm320c", "milesight_em300", "qalcosonic_w1", "fengbo_4g")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """The portal's SQLALCHEMY_DATABASE_URI: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quantify.db'}"
        return
    psycopg2 = pytest.importorskip("psycopg2")
    server = request.getfixturevalue("postgres_server")
    name = f"quantify_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    base, _, _ = server.rpartition("/")
    yield "postgresql+psycopg2://" + base.removeprefix("postgresql://") + "/" + name.split("?")[0]
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def seed(app) -> Dict[str, int]:
    """Users (a super admin, an editor, a viewer) and meters of every device type, as the portal has them."""
    with app.app_context():
        edit = Permission(name="editor", permissions_json=json.dumps({"meters": {"view": True, "edit": True}}))
        view = Permission(name="viewer", permissions_json=json.dumps({"meters": {"view": True, "edit": False}}))
        db.session.add_all([edit, view])
        db.session.flush()
        editors, viewers = Role(name="editors", permission_id=edit.id), Role(name="viewers", permission_id=view.id)
        db.session.add_all([editors, viewers])
        db.session.flush()
        db.session.add_all([User(username="admin", is_super_admin=True), User(username="ed", role_id=editors.id),
                            User(username="vi", role_id=viewers.id)])
        for i, t in enumerate(EASTRON_TYPES + IVY_TYPES):
            eui = IVY if t in IVY_TYPES else SDM
            db.session.add(Meter(serial_number=f"M-{i}", device_eui=eui if i else eui.upper(), lorawan_device_type=t))
        db.session.add(Meter(serial_number="NO-EUI", device_eui=None))
        db.session.commit()
        return {u.username: u.id for u in User.query.all()}


def login(client, user: str) -> None:
    r = client.post("/api/v1/auth/login", json={"username": user})
    assert r.status_code == 200, r.get_json()


def portal_config(database: str, sim, **extra: Any) -> Dict[str, Any]:
    cfg = {"SQLALCHEMY_DATABASE_URI": database, "CHIRPSTACK_API_URL": sim.url, "CHIRPSTACK_API_KEY": sim.api_key,
           "RELAYLINK_SAFETY": {"windows": False}, "TESTING": True,
           # The test server's user is "relaylink": its "$user" schema is on the portal's search_path (refused, see
           # test_a_schema_on_the_portals_search_path_is_refused), so relaylink's tables go to another one.
           "RELAYLINK_SCHEMA": "relaylink_store"}
    cfg.update(extra)
    return cfg


@pytest.fixture
def fresh_relay():
    """The app's module-level extension, closed after each test (each test makes its own app)."""
    yield relay
    relay.close()


def test_the_portals_own_relay_view_on_the_drop_in_serves_every_device_type(quiet_sim, database):
    app = create_app(portal_config(database, quiet_sim))
    seed(app)
    c = app.test_client()
    login(c, "ed")
    with relaylink.ChirpStackClient.for_simulator(quiet_sim) as cs:
        for i, t in enumerate(EASTRON_TYPES + IVY_TYPES):
            r = c.post(f"/api/v1/meters/M-{i}/relay", json={"action": "off"})
            assert r.status_code == 200, (t, r.get_json())
            body = r.get_json()
            assert body["device_type"] == (t or "eastron_sdm") and body["success"] is True
            eui = IVY if t in IVY_TYPES else SDM
            item = cs.get_queue(eui)[-1]
            if t in IVY_TYPES:
                assert item.f_port == 10
            else:
                assert (bytes(item.data), item.f_port) == (EASTRON_OFF, 5), t
        assert c.post("/api/v1/meters/NO-EUI/relay", json={"action": "off"}).get_json() == \
            {"error": "Meter does not have a device EUI configured"}
        assert c.post("/api/v1/meters/404/relay", json={"action": "off"}).status_code == 404
        assert c.get("/api/v1/lorawan/test-connection").get_json()["success"] is True  # the module-level import site
    with app.app_context():  # log_action got the meter's integer id: every row kept
        assert [a.entity_id for a in AuditLog.query.order_by(AuditLog.id)] == list(range(1, len(EASTRON_TYPES) + 2))


def test_the_extension_serves_the_portals_route_and_keeps_device_commands_in_step(quiet_sim, database, fresh_relay):
    # Manual time: each step of the command waits for the test to move the device, so each status the portal's
    # row goes through is there to be read, however loaded the machine.
    sim = quiet_sim
    app = create_app(portal_config(database, sim, RELAYLINK_SIMULATOR=sim), relay_mode="extension")
    users = seed(app)
    assert not relay.started  # create_app() (a seeding script) started nothing
    c = app.test_client()

    # The portal's decorators answer first: not logged in, a viewer.
    r = c.post("/api/v1/meters/M-1/relay", json={"action": "off"})
    assert (r.status_code, r.get_json()["error"]) == (401, "Session expired. Please log in again.")
    login(c, "vi")
    r = c.post("/api/v1/meters/M-1/relay", json={"action": "off"})
    assert (r.status_code, r.get_json()) == (403, {"error": "Permission denied", "code": 403})
    assert not relay.started  # refused requests never reached relaylink

    login(c, "ed")
    # The portal's own answers, in its order and words.
    assert c.post("/api/v1/meters/nope/relay", json={"action": "off"}).get_json() == {"error": "Meter not found"}
    r = c.post("/api/v1/meters/NO-EUI/relay", json={"action": "off"})
    assert (r.status_code, r.get_json()) == (400, {"error": "Meter does not have a device EUI configured"})
    r = c.post("/api/v1/meters/M-1/relay", json={"action": "toggle"})
    assert (r.status_code, r.get_json()) == (400, {"error": "Invalid action. Must be 'on' or 'off'"})
    r = c.post("/api/v1/meters/M-1/relay", json={"action": ["off"]})
    assert r.status_code == 400

    svc = relay.service
    seen: List[str] = []
    raw = _portal_reader(database)

    def on_change(change) -> None:
        if change.command.portal_row_id:
            seen.append(raw(f"SELECT status FROM device_commands WHERE id = {change.command.portal_row_id}")[0][0])

    token = svc.subscribe(on_change)
    try:
        r = c.post("/api/v1/meters/2/relay", json={"action": "OFF"})  # by id; the portal lower-cases the action
        body = r.get_json()
        assert r.status_code == 200, body
        assert {k: body[k] for k in ("success", "message", "device_eui", "action", "device_type", "note", "not_before")} == {
            "success": True, "message": "Relay OFF command queued successfully", "device_eui": SDM, "action": "off",
            "device_type": "eastron_sdm", "note": "Command will be delivered on next device uplink (Class A)", "not_before": None}
        status = lambda: raw("SELECT status FROM device_commands WHERE meter_id = 2")[0][0]  # noqa: E731
        # Subscribers are called on a thread of their own, after the change: each step waits until the callback
        # has read the row too, or on a loaded machine it reads the next step's status (seen in CI).
        eventually(lambda: status() == "queued" and "queued" in seen, timeout=20)  # the device has not uplinked yet
        sim.trigger_uplink(SDM)                                # it uplinks and receives the downlink
        eventually(lambda: status() == "sent" and "sent" in seen, timeout=20)
        sim.advance(5)                                         # the meter answers in its next uplink
        done = svc.wait(body["command_id"], timeout=30)
        assert done.state == "confirmed", done.error
        eventually(lambda: seen and seen[-1] == "completed", timeout=10)
    finally:
        svc.unsubscribe(token)
    assert sim.device(SDM)["relay_closed"] is False
    order = ["pending", "queued", "sent", "completed"]
    steps = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert steps == sorted(steps, key=order.index) and {"queued", "sent", "completed"} <= set(steps), seen
    assert steps[0] in ("pending", "queued"), seen  # the row was born pending (PortalStore.* reads it at its insert)

    with app.app_context():
        rows = DeviceCommand.query.all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.meter_id, row.device_eui, row.command_type, row.status, row.priority, row.created_by) == \
            (2, SDM, "switch_off", "completed", 5, users["ed"])
        assert row.sent_at is not None and row.completed_at is not None and row.completed_at >= row.sent_at
        assert row.error_message is None and json.loads(row.command_data)["relaylink_command_id"] == body["command_id"]
        audit = AuditLog.query.filter_by(action="meter.relay_off").one()
        assert (audit.entity_type, audit.entity_id, audit.user_id) == ("meter", 2, users["ed"])
        assert json.loads(audit.new_values)["command_id"] == body["command_id"]
        # The portal's tables are its own; relaylink's sit beside them (SQLite: relaylink_*, PostgreSQL: schema relaylink).
        assert Meter.query.count() == len(EASTRON_TYPES) + len(IVY_TYPES) + 1

    # The IVY meter gets the IVY profile through the portal's device type.
    r = c.post("/api/v1/meters/M-7/relay", json={"action": "off"})
    assert r.get_json()["device_type"] == "ivy_em114"
    assert svc.command(r.get_json()["command_id"]).profile == "ivy_em114039"


def test_the_safety_guard_answers_in_the_portals_shape(quiet_sim, tmp_path, fresh_relay):
    # A protected meter: 409 with the portal's `error`; outside the disconnect window: 200, deferred, with not_before.
    closed_now = ("13:00", "14:00") if quiet_sim.now().hour < 12 else ("01:00", "02:00")  # UTC, the simulator's clock
    app = create_app(portal_config(f"sqlite:///{tmp_path / 'q.db'}", quiet_sim, RELAYLINK_SIMULATOR=quiet_sim,
                                   RELAYLINK_SAFETY={"protected_meters": [IVY], "time_zone": "UTC",
                                                     "window_start": closed_now[0], "window_end": closed_now[1],
                                                     "weekdays": [0, 1, 2, 3, 4, 5, 6]}),
                     relay_mode="extension")
    seed(app)
    c = app.test_client()
    login(c, "ed")
    r = c.post("/api/v1/meters/M-7/relay", json={"action": "off"})  # the IVY meter, protected
    body = r.get_json()
    assert r.status_code == 409 and body["success"] is False and body["error"].startswith("Relay OFF refused:"), body
    assert body["state"] == "failed" and body["command_id"]
    r = c.post("/api/v1/meters/M-1/relay", json={"action": "off"})
    body = r.get_json()
    assert r.status_code == 200 and body["success"] is True and body["not_before"], body
    assert body["message"].startswith(f"Relay OFF command accepted: it waits until {body['not_before']}"), body
    with app.app_context():  # the deferred one has its portal row, scheduled; the refused one too, failed
        rows = {r.meter_id: r for r in DeviceCommand.query.all()}
        assert rows[2].status == "pending" and rows[2].scheduled_at is not None
        assert rows[8].status == "failed" and "protected" in rows[8].error_message
        assert AuditLog.query.filter_by(action="meter.relay_off").count() == 1  # as the portal: only what was queued
    r = c.post("/api/v1/meters/M-1/relay", json={"action": "on"})  # a reconnect is never held
    assert r.status_code == 200 and r.get_json()["not_before"] is None, r.get_json()


def test_an_extension_without_a_meter_lookup_says_so(quiet_sim, tmp_path):
    import flask

    from relaylink.flask import RelayLink
    app = flask.Flask(__name__)
    app.config.update(portal_config(f"sqlite:///{tmp_path / 'q.db'}", quiet_sim))
    with pytest.raises(relaylink.ConfigError, match="RelayLink needs find_meter="):
        RelayLink(app)
    app.config["RELAYLINK_ROUTES"] = False
    app.config["RELAYLINK_PORTAL_TABLE"] = None  # an app without the portal's device_commands
    only_service = RelayLink(app, simulator=quiet_sim)
    try:
        assert only_service.service.disconnect(SDM, profile="eastron_sdm").state == "pending"
        assert not any(r.rule.endswith("/relay") for r in app.url_map.iter_rules())
    finally:
        only_service.close()


def _portal_reader(database: str):
    """Reads the portal's database on a connection of its own (as another process would)."""
    if database.startswith("sqlite:///"):
        path = database[len("sqlite:///"):]

        def read(sql: str):
            with sqlite3.connect(path) as con:
                return con.execute(sql).fetchall()
        return read
    import psycopg2
    dsn = "postgresql://" + database.split("://", 1)[1]

    def read_pg(sql: str):
        con = psycopg2.connect(dsn)
        try:
            cur = con.cursor()
            cur.execute(sql)
            return cur.fetchall()
        finally:
            con.close()
    return read_pg


def test_a_refused_portal_row_refuses_the_command_and_writes_nothing(quiet_sim, tmp_path, fresh_relay):
    # A meter the portal deleted (its id no longer in meters): device_commands' foreign key refuses the row, so
    # the command is not stored either, and the answer says why.
    app = create_app(portal_config(f"sqlite:///{tmp_path / 'q.db'}", quiet_sim, RELAYLINK_SIMULATOR=quiet_sim),
                     relay_mode="extension")
    seed(app)
    svc = relay.service
    with pytest.raises(relaylink.StoreError, match=r"refused the command's row \(meter id 999\)"):
        svc.disconnect(SDM, profile="eastron_sdm", meter_id=999, idempotency_key="gone")
    assert svc.counts() == {} or sum(svc.counts().values()) == 0
    with pytest.raises(relaylink.RequestError, match="meter_id must be the portal's meters.id"):
        svc.disconnect(SDM, profile="eastron_sdm", meter_id="2")
    with pytest.raises(relaylink.RequestError, match="user_id must be the portal's users.id"):
        svc.disconnect(SDM, profile="eastron_sdm", meter_id=2, user_id=0)


def test_a_route_the_portal_still_serves_is_refused_at_start_up(quiet_sim, tmp_path, fresh_relay):
    with pytest.raises(RuntimeError, match=r"/api/v1/meters/<meter_id>/relay is also served by the app's view "
                                           r"'meter_relay_control'"):
        create_app(portal_config(f"sqlite:///{tmp_path / 'q.db'}", quiet_sim), relay_mode="both")


def test_bad_settings_are_named_at_init_app(quiet_sim, tmp_path, fresh_relay):
    base = portal_config(f"sqlite:///{tmp_path / 'q.db'}", quiet_sim)
    for key, value, words in [("RELAYLINK_SAFETY", "{not json", "RELAYLINK_SAFETY must be a dict or JSON object text"),
                              ("RELAYLINK_PORTAL_TABLE", 7, "RELAYLINK_PORTAL_TABLE must be the portal's command table's name"),
                              ("CHIRPSTACK_PASSTHROUGH_PORT", 300, "CHIRPSTACK_PASSTHROUGH_PORT must be an fPort 1-223"),
                              ("RELAYLINK_URL_PREFIX", "api", "RELAYLINK_URL_PREFIX must start with /"),
                              ("RELAYLINK_ROUTES", "yes", "RELAYLINK_ROUTES must be True or False")]:
        with pytest.raises(relaylink.ConfigError, match=words) as e:
            create_app(dict(base, **{key: value}), relay_mode="extension")
        assert e.value.field == key
    from relaylink.flask import RelayLink
    with pytest.raises(relaylink.ConfigError, match="RELAYLINK_DATABASE_URI is not set, nor SQLALCHEMY_DATABASE_URI"):
        RelayLink.from_config({"CHIRPSTACK_API_KEY": "k"})
    with pytest.raises(relaylink.ConfigError, match="CHIRPSTACK_API_KEY is not set"):
        RelayLink.from_config({"SQLALCHEMY_DATABASE_URI": base["SQLALCHEMY_DATABASE_URI"]}).service  # noqa: B018
    # A portal table that is not there: said at the service's start, with what to set.
    app = create_app(dict(base, RELAYLINK_PORTAL_TABLE="commands_of_the_portal", RELAYLINK_SIMULATOR=quiet_sim),
                     relay_mode="extension")
    with app.app_context(), pytest.raises(relaylink.StoreError, match="portal table \"commands_of_the_portal\" not found"):
        relay.service  # noqa: B018


def test_a_schema_on_the_portals_search_path_is_refused(quiet_sim, postgres_server, tmp_path, fresh_relay):
    # The test server's user is "relaylink": PostgreSQL's default search_path ("$user", public) puts a schema of
    # that name before public in the portal's own sessions, where its Meter queries would find relaylink's meters.
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"quantify_sp_{os.getpid()}"
    admin = psycopg2.connect(postgres_server)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        base = postgres_server.rpartition("/")[0].removeprefix("postgresql://")
        app = create_app(portal_config(f"postgresql+psycopg2://{base}/{name}", quiet_sim, RELAYLINK_SCHEMA="relaylink",
                                       RELAYLINK_SIMULATOR=quiet_sim), relay_mode="extension")
        with pytest.raises(relaylink.StoreError, match=r"schema 'relaylink' is on the portal's search_path .* Give relaylink "
                                                       r"another schema \(RELAYLINK_SCHEMA"):
            relay.service  # noqa: B018
        with app.app_context():  # refused before anything was created: the portal's own queries still work
            assert Meter.query.count() == 0
            db.engine.dispose()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_the_flask_examples_of_python_md_run_as_written_against_the_portal_like_app(sim, tmp_path, monkeypatch, fresh_relay):
    import re

    import quantify_like.models
    import quantify_like.utils.audit
    import quantify_like.utils.decorators
    text = (REPO / "docs" / "python.md").read_text()
    section = text[text.index("## 4. Flask"):text.index("## Checked")]
    extension, blueprint = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    # The portal's package is `app`: the test app stands in for it, module by module.
    for name in ("", ".db", ".models", ".utils", ".utils.audit", ".utils.decorators"):
        monkeypatch.setitem(sys.modules, "app" + name, sys.modules["quantify_like" + name])
    ns: Dict[str, Any] = {}
    exec(compile(extension, "python.md (extension)", "exec"), ns)  # noqa: S102
    flask_app = create_app(portal_config(f"sqlite:///{tmp_path / 'q.db'}", sim, RELAYLINK_SIMULATOR=sim), relay_mode="none")
    seed(flask_app)
    ns["relay"].init_app(flask_app)
    c = flask_app.test_client()
    login(c, "ed")
    r = c.post("/api/v1/meters/SDM-absent/relay", json={"action": "off"})
    assert (r.status_code, r.get_json()) == (404, {"error": "Meter not found"})
    r = c.post("/api/v1/meters/M-3/relay", json={"action": "off"})
    assert r.status_code == 200 and r.get_json()["message"] == "Relay OFF command queued successfully", r.get_json()
    with flask_app.app_context():
        assert DeviceCommand.query.one().meter_id == 4
    ns["relay"].close()

    other = create_app(portal_config(f"sqlite:///{tmp_path / 'q2.db'}", sim), relay_mode="none")
    seed(other)
    exec(compile(blueprint, "python.md (blueprint)", "exec"), dict(ns, app=other))  # noqa: S102
    c = other.test_client()
    login(c, "ed")
    r = c.post("/relay/meters/M-3/relay", json={"action": "on"})
    assert r.status_code == 200 and r.get_json()["command_id"], r.get_json()


# ---- the deployment: gunicorn --preload, Celery -------------------------------------------------------------

def _child_env(sim, database: str, **extra: str) -> Dict[str, str]:
    env = dict(os.environ, CHIRPSTACK_API_URL=sim.url, CHIRPSTACK_API_KEY=sim.api_key, DATABASE_URL=database,
               RELAYLINK_SAFETY='{"windows": false}', RELAYLINK_SCHEMA="relaylink_store", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), os.path.dirname(os.path.dirname(os.path.abspath(relaylink.__file__))),
                                         env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("start_in_master", [False, True])
def test_gunicorn_preload_with_two_workers_each_starting_its_own_service(quiet_sim, database, tmp_path, start_in_master):
    # The master imports the app (create_app() runs there, --preload); with QL_START_IN_MASTER it even starts a
    # service before forking, as a careless start-up hook would: each worker must still start its own.
    app = create_app(portal_config(database, quiet_sim), relay_mode="extension")
    seed(app)
    relay.close()
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "w+")
    env = _child_env(quiet_sim, database, QL_START_IN_MASTER="1" if start_in_master else "")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}",
                            "quantify_like.wsgi:app"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: _get(port, "/api/v1/ping") == 200 or web.poll() is not None, timeout=60, interval=0.1)
        assert web.poll() is None, log.read()
        answers = []
        for i in range(8):
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            _post(opener, port, "/api/v1/auth/login", {"username": "ed"})
            status, body = _post(opener, port, f"/api/v1/meters/M-{1 + i % 6}/relay", {"action": "off"},
                                 headers={"Idempotency-Key": f"k{i}"})
            answers.append((status, body.get("message"), body.get("error")))
    finally:
        _stop(web)
        log.seek(0)
        output = log.read()
    assert all(a[:2] == (200, "Relay OFF command queued successfully") for a in answers), (answers, output[-3000:])
    assert "created in another process" not in output, output
    started = [line.split()[0] for line in output.splitlines() if "relaylink.flask: service started in process" in line]
    assert started, output
    if start_in_master:
        assert "started a service before forking" in output and len(set(started)) >= 2, output
    read = _portal_reader(database)
    # One SDM meter: the first disconnect is in flight, the rest return it (one command, one portal row).
    rows = read("SELECT status, command_type FROM device_commands")
    assert rows and {r[1] for r in rows} == {"switch_off"}, rows
    assert quiet_sim.device(SDM)["queue_length"] == 1


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except Exception:
        return 0


def _post(opener, port: int, path: str, body: Dict[str, Any], headers: Dict[str, str] = {}):  # noqa: B006
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with opener.open(req, timeout=30) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text or b"{}")
    except ValueError:
        return status, {"error": text.decode(errors="replace")[:300]}


@pytest.mark.timeout(600)  # the worker's boot and three round trips through its broker, on a loaded machine
def test_a_celery_worker_that_never_calls_create_app_disconnects_with_one_line(quiet_sim, database, tmp_path):
    app = create_app(portal_config(database, quiet_sim), relay_mode="extension")
    seed(app)
    relay.close()
    folder = tmp_path / "celery"
    (folder / "results").mkdir(parents=True)
    env = _child_env(quiet_sim, database, CELERY_FOLDER=str(folder))
    log = open(tmp_path / "celery.log", "w+")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "quantify_like.celery_app", "worker", "--concurrency", "2",
                               "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    code = ("import json\n"
            "from quantify_like.celery_app import celery\n"
            "from quantify_like.tasks import prepaid_disconnect_tasks as t\n"
            # Bounds, not waits: a worker booting beside builds took over a minute once.
            "a = t.disconnect_meter.delay(2, '0101010101010101', 'eastron_sdm').get(timeout=240)\n"
            "b = t.disconnect_meter.delay(2, '0101010101010101', 'eastron_sdm').get(timeout=240)\n"
            "c = t.send_relay_command_task.delay('0202020202020202', 'off', 'ivy_em114').get(timeout=240)\n"
            "print(json.dumps([a, b, c]))\n")
    try:
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=540)
        assert r.returncode == 0, r.stdout + r.stderr + "\nthe worker's log:\n" + open(tmp_path / "celery.log").read()[-3000:]
        first, again, drop_in = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        _stop(worker, timeout=30)
        log.seek(0)
        output = log.read()
    assert first["command_id"] == again["command_id"] and first["portal_row_id"], (first, again)  # idempotent
    assert drop_in[0] is True, drop_in
    assert "created in another process" not in output
    rows = _portal_reader(database)("SELECT meter_id, command_type, status FROM device_commands")
    assert [(m, t) for m, t, _s in rows] == [(2, "switch_off")], rows
    eventually(lambda: quiet_sim.device(SDM)["queue_length"] == 1, timeout=20)
