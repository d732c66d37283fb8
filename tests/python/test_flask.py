"""relaylink.flask through Flask's test client, with a real service on the simulator."""
import time

import pytest

flask = pytest.importorskip("flask")

import relaylink
from relaylink.flask import MeterTarget, relay_blueprint
from conftest import IVY, SDM

METERS = {"17": MeterTarget(SDM, "eastron_sdm", "17"), "18": {"device_eui": IVY, "device_type": "ivy_em114"},
          "19": MeterTarget(None)}
SECRET = "integration-secret"


@pytest.fixture
def app(service):
    audit = []
    app = flask.Flask("portal")
    app.config["TESTING"] = True

    def authorize(permission):  # the test says which permissions the "user" has
        return permission in flask.request.headers.get("X-Permissions", "").split(",")

    bp = relay_blueprint(service, resolve_meter=METERS.get, authorize=authorize,
                         actor=lambda: flask.request.headers.get("X-User", ""),
                         audit=lambda action, **kw: audit.append((action, kw)), integration_secret=SECRET)
    app.register_blueprint(bp, url_prefix="/api/v1")
    app.audit = audit
    return app


EDIT = {"X-Permissions": "meters.view,meters.edit", "X-User": "alice"}
VIEW = {"X-Permissions": "meters.view", "X-User": "victor"}


def test_disconnect_then_follow_the_command_to_confirmed(app, service, sim):
    c = app.test_client()
    r = c.post("/api/v1/meters/17/relay", json={"action": "off", "reason": "arrears"}, headers=EDIT)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["success"] and "next uplink" in body["message"] and body["state"] == "pending"
    service.wait(body["command_id"], timeout=30)
    got = c.get(f"/api/v1/commands/{body['command_id']}", headers=VIEW).json
    assert got["command"]["state"] == "confirmed" and got["command"]["createdBy"] == "alice"
    assert [e["to"] for e in got["command"]["events"]][-1] == "confirmed"
    assert sim.device(SDM)["relay_closed"] is False
    history = c.get("/api/v1/meters/17/commands", headers=VIEW).json
    assert [x["id"] for x in history["commands"]] == [body["command_id"]]
    assert history["meter"]["relayState"] == "disconnected"
    action, kw = app.audit[0]
    assert action == "meter.relay_off" and kw["entity_type"] == "meter" and kw["entity_id"] == 17  # an integer, as log_action takes it
    assert kw["new_values"]["command_id"] == body["command_id"]


def test_reconnect_an_ivy_with_a_dict_resolver(app, service):
    r = app.test_client().post("/api/v1/meters/18/relay", json={"action": "on"}, headers=EDIT)
    assert r.status_code == 200 and service.wait(r.json["command_id"], timeout=30).state == "confirmed"


@pytest.mark.parametrize("meter,body,status,message", [
    ("17", {"action": "toggle"}, 400, "Invalid action: toggle. Must be 'on' or 'off'"),
    ("17", None, 400, "Request body must be JSON"),
    ("17", {"action": "off", "reason": 5}, 400, "reason must be text"),
    ("99", {"action": "off"}, 404, "Meter not found"),
    ("19", {"action": "off"}, 400, "Meter has no device EUI configured"),
])
def test_relay_refusals(app, meter, body, status, message):
    r = app.test_client().post(f"/api/v1/meters/{meter}/relay", json=body, headers=EDIT) if body is not None else \
        app.test_client().post(f"/api/v1/meters/{meter}/relay", data="off", headers=EDIT)
    assert r.status_code == status and r.json["success"] is False and r.json["message"].startswith(message)


def test_permissions(app):
    c = app.test_client()
    r = c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers=VIEW)
    assert r.status_code == 403 and "meters.edit" in r.json["message"]
    assert c.get("/api/v1/meters/17/commands").status_code == 403
    assert c.get("/api/v1/meters/17/commands", headers=VIEW).status_code == 200
    assert c.post("/api/v1/commands/1/cancel", headers=VIEW).status_code == 403


def test_safety_refusal_is_409_with_the_reason(sim, sim_client):
    with relaylink.RelayService(sim_client, db=":memory:", simulator=sim, safety={"protected_meters": [SDM]}) as svc:
        app = flask.Flask("portal")
        app.register_blueprint(relay_blueprint(svc, resolve_meter=METERS.get), url_prefix="/api/v1")
        r = app.test_client().post("/api/v1/meters/17/relay", json={"action": "off"})
        assert r.status_code == 409 and "protected" in r.json["message"] and r.json["state"] == "failed"


def test_idempotency_key_header_returns_the_same_command(app):
    c = app.test_client()
    h = dict(EDIT, **{"Idempotency-Key": "click-1"})
    a = c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers=h).json
    b = c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers=h).json
    assert a["command_id"] == b["command_id"]


def test_cancel(app, service):
    c = app.test_client()
    assert c.post("/api/v1/commands/12345/cancel", json={}, headers=EDIT).status_code == 404
    cmd = c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers=EDIT).json["command_id"]
    service.wait(cmd, timeout=30)
    r = c.post(f"/api/v1/commands/{cmd}/cancel", json={"reason": "too late"}, headers=EDIT)
    assert r.status_code == 409 and "confirmed" in r.json["message"]
    assert c.get("/api/v1/commands/999", headers=VIEW).status_code == 404


def test_chirpstack_integration_endpoint(app):
    from conftest import DATA
    c = app.test_client()
    up = (DATA / "events" / "up.json").read_bytes()
    ok = c.post("/api/v1/chirpstack/events?event=up", data=up, headers={"X-Relaylink-Secret": SECRET},
                content_type="application/json")
    assert ok.status_code == 200
    assert c.post("/api/v1/chirpstack/events?event=up", data=up).status_code == 401
    assert c.post("/api/v1/chirpstack/events?event=up", data=up, headers={"X-Relaylink-Secret": "wrong"}).status_code == 401
    r = c.post("/api/v1/chirpstack/events", data=up, headers={"X-Relaylink-Secret": SECRET})
    assert r.status_code == 400 and r.json["field"] == "event"
    r = c.post("/api/v1/chirpstack/events?event=up", data=b"{bad", headers={"X-Relaylink-Secret": SECRET})
    assert r.status_code == 400 and r.json["message"]
    r = c.post("/api/v1/chirpstack/events?event=up", data=b"\x0a\x01", headers={"X-Relaylink-Secret": SECRET},
               content_type="application/octet-stream")
    assert r.status_code == 415


def test_service_factory_and_failing_audit(service):
    app = flask.Flask("portal")

    def broken_audit(*a, **kw):
        raise RuntimeError("audit table locked")
    app.extensions["relaylink"] = service
    app.register_blueprint(relay_blueprint(lambda: flask.current_app.extensions["relaylink"], resolve_meter=METERS.get,
                                           audit=broken_audit), url_prefix="/x")
    r = app.test_client().post("/x/meters/17/relay", json={"action": "off"})
    assert r.status_code == 200  # an audit failure never breaks the request
    assert "/x/chirpstack/events" not in [str(rule) for rule in app.url_map.iter_rules()]


def test_authorize_with_the_user_and_the_actor_from_it(service):
    class User:
        def __init__(self, username, permissions):
            self.username, self.permissions = username, permissions
    users = {"ann": User("ann", {"meters.view", "meters.edit"}), "vic": User("vic", {"meters.view"})}
    app = flask.Flask("portal")
    app.register_blueprint(relay_blueprint(
        service, resolve_meter=METERS.get,
        current_user=lambda: users.get(flask.request.headers.get("X-User", "")),
        authorize=lambda user, permission: user is not None and permission in user.permissions), url_prefix="/api/v1")
    c = app.test_client()
    assert c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers={"X-User": "vic"}).status_code == 403
    assert c.post("/api/v1/meters/17/relay", json={"action": "off"}).status_code == 403
    r = c.post("/api/v1/meters/17/relay", json={"action": "off"}, headers={"X-User": "ann"})
    assert r.status_code == 200
    assert service.command(r.json["command_id"]).created_by == "ann"


def test_permissions_per_action_and_a_required_reason(service, sim):
    app = flask.Flask("portal")

    def authorize(permission):
        return permission in flask.request.headers.get("X-Permissions", "").split(",")

    app.register_blueprint(relay_blueprint(
        service, resolve_meter=METERS.get, authorize=authorize, reason_required=("off",),
        permissions={"relay_off": "meters.disconnect", "relay_on": "meters.reconnect", "cancel": "commands.cancel"}),
        url_prefix="/api/v1")
    c = app.test_client()
    operator = {"X-Permissions": "meters.view,meters.reconnect"}
    r = c.post("/api/v1/meters/17/relay", json={"action": "off", "reason": "x"}, headers=operator)
    assert r.status_code == 403 and r.json["permission"] == "meters.disconnect"
    # A request whose action cannot be read is checked as a disconnect: it cannot probe past the check.
    assert c.post("/api/v1/meters/17/relay", data="nonsense", headers=operator).status_code == 403
    r = c.post("/api/v1/meters/18/relay", json={"action": "on"}, headers=operator)
    assert r.status_code == 200  # no reason needed to restore power
    admin = {"X-Permissions": "meters.view,meters.disconnect,commands.cancel"}
    for reason in ("", "   "):
        r = c.post("/api/v1/meters/17/relay", json={"action": "off", "reason": reason}, headers=admin)
        assert r.status_code == 400 and r.json == {"success": False, "message": "A reason is required to disconnect",
                                                   "field": "reason"}
    assert service.history(SDM, 10) == []
    # The meter's uplinks are lost from here: its disconnect cannot go out before the cancel (the simulator's
    # devices uplink every 0.1 s). The cancel waits until ChirpStack has the item (while the enqueue is in
    # flight a cancel is refused: it could not tell whether the item exists), which it then flushes.
    sim.set_faults(SDM, uplink_loss=1.0)
    r = c.post("/api/v1/meters/17/relay", json={"action": "off", "reason": "arrears"}, headers=admin)
    assert r.status_code == 200
    cid = r.json["command_id"]
    assert c.post(f"/api/v1/commands/{cid}/cancel", headers=operator).status_code == 403
    deadline = time.monotonic() + 20
    while service.command(cid).state != "queued" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.command(cid).state == "queued"
    r = c.post(f"/api/v1/commands/{cid}/cancel", headers=admin)  # allowed for the admin
    assert r.status_code == 200, r.json
    assert service.command(cid).state == "cancelled", r.json


@pytest.mark.parametrize("kw,message", [
    ({"permissions": {"relay": "x"}}, "permissions: unknown key 'relay' (keys: cancel, relay_off, relay_on, view)"),
    ({"permissions": {"view": ""}}, "permissions['view'] must be a non-empty permission name"),
    ({"reason_required": ("off", "maybe")}, "reason_required: only 'on' and 'off', got ['maybe', 'off']"),
    ({"reason_required": "off"}, "reason_required: only 'on' and 'off'"),
])
def test_bad_blueprint_settings(service, kw, message):
    with pytest.raises(ValueError) as e:
        relay_blueprint(service, resolve_meter=METERS.get, **kw)
    assert message in str(e.value)


def test_the_portals_own_decorators_guard_every_route_but_the_integration(service):
    """The portal's way (Flask-Login's login_required, its requires_permission walking the user's role):
    relaylink leaves who may call to them, applied in Flask's View.decorators order."""
    from functools import wraps
    applied = []

    def login_required(f):
        @wraps(f)
        def wrapper(*a, **kw):
            applied.append("login_required")
            if "X-User" not in flask.request.headers:  # the portal's own answer to an anonymous request
                return flask.jsonify(error="Session expired. Please log in again.", code=401, redirect="/login"), 401
            return f(*a, **kw)
        return wrapper

    def requires_permission(code):
        def deco(f):
            @wraps(f)
            def wrapper(*a, **kw):
                applied.append("requires_permission")
                if "X-User" not in flask.request.headers:  # as the portal's: unauthenticated is 401, not 403
                    return flask.jsonify(error="Session expired. Please log in again.", code=401, redirect="/login"), 401
                if code not in flask.request.headers.get("X-Permissions", "").split(","):
                    return flask.jsonify(error="Permission denied"), 403
                return f(*a, **kw)
            return wrapper
        return deco

    app = flask.Flask("portal")
    app.register_blueprint(relay_blueprint(service, resolve_meter=METERS.get, integration_secret=SECRET,
                                           decorators=[login_required, requires_permission("meters.edit")]),
                           url_prefix="/api/v1")
    c = app.test_client()
    r = c.post("/api/v1/meters/17/relay", json={"action": "on"})
    assert r.status_code == 401 and r.json == {"error": "Session expired. Please log in again.", "code": 401, "redirect": "/login"}
    assert applied == ["requires_permission"], "the last listed is the outermost, as in MethodView"
    r = c.post("/api/v1/meters/17/relay", json={"action": "on"}, headers=VIEW)
    assert r.status_code == 403 and r.json == {"error": "Permission denied"}
    assert c.get("/api/v1/meters/17/commands").status_code == 401
    assert c.get("/api/v1/commands/1").status_code == 401
    assert c.post("/api/v1/commands/1/cancel", json={}).status_code == 401
    r = c.post("/api/v1/meters/17/relay", json={"action": "on"}, headers=EDIT)
    assert r.status_code == 200 and r.json["success"] is True and r.json["command_id"] > 0
    # ChirpStack's route keeps its shared secret and is not given the portal's log-in.
    assert c.post("/api/v1/chirpstack/events?event=up", data="{}", headers={"X-Relaylink-Secret": SECRET}).status_code == 400
    with pytest.raises(TypeError, match="decorators: each must be a view decorator"):
        relay_blueprint(service, resolve_meter=METERS.get, decorators=["login_required"])


def test_a_blueprint_with_neither_decorators_nor_authorize_is_warned_about(service, caplog):
    with caplog.at_level("WARNING", logger="relaylink.flask"):
        relay_blueprint(service, resolve_meter=METERS.get, name="open")
    assert any("neither decorators nor authorize" in r.getMessage() for r in caplog.records)


def test_a_route_the_app_already_serves_is_refused_at_start_up(service):
    app = flask.Flask("portal")

    @app.post("/api/v1/meters/<int:meter_id>/relay")
    def control_relay(meter_id):  # the portal's own relay view
        return {"success": True}

    with pytest.raises(RuntimeError, match=r"/api/v1/meters/<meter_id>/relay is also served by the app's view 'control_relay'"):
        app.register_blueprint(relay_blueprint(service, resolve_meter=METERS.get, authorize=lambda p: True), url_prefix="/api/v1")
    ok = flask.Flask("portal2")
    ok.post("/api/v1/meters/<int:meter_id>/relay")(control_relay)
    ok.register_blueprint(relay_blueprint(service, resolve_meter=METERS.get, authorize=lambda p: True), url_prefix="/relaylink")
    late = flask.Flask("portal3")  # the portal's rule added after the blueprint: found at the first request
    late.config["TESTING"] = True
    late.register_blueprint(relay_blueprint(service, resolve_meter=METERS.get, authorize=lambda p: True), url_prefix="/api/v1")
    late.add_url_rule("/api/v1/commands/<int:n>", "mine", lambda n: "x")
    with pytest.raises(RuntimeError, match="also served by the app's view 'mine'"):
        late.test_client().get("/api/v1/commands/1")
