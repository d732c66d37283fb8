"""The example portal (examples/flask_portal) through Flask's test client, on a real simulator and
real SQLite files: roles on every endpoint, CSRF on every POST, session expiry, and each form's bad
values refused with nothing written. The browser tests (test_portal_browser.py) drive the same app in
Chromium."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import timedelta

import pytest

import portal_helpers as ph
from portal_helpers import CLINIC, EUI, FLAT_1A, FLAT_1B, FLAT_2B, FLAT_3A, STORE, csrf_of, flashes

from portal import auth, create_app  # noqa: E402  (portal_helpers put it on sys.path)
from portal.notify import Notification


@pytest.fixture
def portal_demo(tmp_path):
    with ph.start(tmp_path) as d:
        yield d


class Session:
    """A browser-like session on the test client: logs in through the form, keeps the CSRF token."""

    def __init__(self, app, username=None):
        self.c = app.test_client()
        self.token = csrf_of(self.c.get("/login").text)
        if username:
            r = self.c.post("/login", data={"username": username, "password": ph.PASSWORDS[username], "csrf_token": self.token})
            assert r.status_code == 302, r.text
            self.token = csrf_of(self.c.get("/meters").text)

    def get(self, url, **kw):
        return self.c.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.c.post(url, data=data, **kw)

    def api(self, url, body=None, token=True, **kw):
        headers = {"X-CSRF-Token": self.token} if token else {}
        headers.update(kw.pop("headers", {}))
        return self.c.post(url, json=body if body is not None else {}, headers=headers, **kw)


def portal_of(d):
    return d.app.extensions["portal"]


def commands_of(d, meter_id):
    return d.service.history(EUI[meter_id], 100)


# --- log-in, roles ------------------------------------------------------------------------------

def test_login_wrong_password_is_refused_and_audited(portal_demo):
    s = Session(portal_demo.app)
    r = s.post("/login", {"username": "admin", "password": "nope"})
    assert r.status_code == 401 and "Wrong user name or password." in flashes(r.text)
    r = s.post("/login", {"username": "nobody", "password": "x"})
    assert r.status_code == 401
    assert s.get("/meters").status_code == 302  # still not logged in
    actions = [r["action"] for r in portal_of(portal_demo).db.all("SELECT action FROM audit_logs")]
    assert actions == ["user.login_failed", "user.login_failed"]


def test_login_is_throttled_after_five_failures(portal_demo):
    s = Session(portal_demo.app)
    for _ in range(5):
        assert s.post("/login", {"username": "operator", "password": "bad"}).status_code == 401
    r = s.post("/login", {"username": "operator", "password": ph.PASSWORDS["operator"]})
    assert r.status_code == 429 and "wait five minutes" in r.text
    # Other users are not locked out by it.
    assert s.post("/login", {"username": "viewer", "password": ph.PASSWORDS["viewer"]}).status_code == 302


def test_login_redirects_only_within_the_site(portal_demo):
    s = Session(portal_demo.app)
    for target, want in (("/audit", "/audit"), ("//evil.example/x", "/meters"), ("https://evil.example/", "/meters"),
                         ("/\\evil.example", "/meters")):
        r = s.post("/login", {"username": "viewer", "password": ph.PASSWORDS["viewer"], "next": target})
        assert r.status_code == 302 and r.location == want, target
        s = Session(portal_demo.app)


def test_every_endpoint_refuses_anonymous_requests(portal_demo):
    app = portal_demo.app
    c = app.test_client()
    open_endpoints = {"static", "portal.login", "portal.login_post", "portal.logout", "portal.home"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_endpoints:
            continue
        url = re.sub(r"<(?:int(?:\([^)]*\))?:)?\w+>", "1", rule.rule)  # every variable part, whatever its converter
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            # With a CSRF token of a session that is not logged in: the refusal must come from the log-in check.
            tok = csrf_of(c.get("/login").text)
            r = c.open(url, method=method, headers={"X-CSRF-Token": tok, "Accept": "application/json"})
            assert r.status_code == 401, (method, url, r.status_code)
            checked += 1
    assert checked >= 18
    # A page asked for by a browser goes to the log-in form and comes back afterwards.
    r = c.get("/meters/3")
    assert r.status_code == 302 and r.location.startswith("/login?next=/meters/3")


PERMISSION_CASES = [
    # (method, url, body, {role: expected status})
    ("POST", "/api/v1/meters/1/relay", {"action": "off", "reason": "test"}, {"viewer": 403, "operator": 403, "admin": 200}),
    ("POST", "/api/v1/meters/2/relay", {"action": "on"}, {"viewer": 403, "operator": 200, "admin": 200}),
    ("GET", "/api/v1/meters/1/commands", None, {"viewer": 200, "operator": 200, "admin": 200}),
    ("POST", "/api/v1/commands/999/cancel", {}, {"viewer": 403, "operator": 403, "admin": 404}),
    ("GET", "/bulk", None, {"viewer": 403, "operator": 403, "admin": 200}),
    ("POST", "/bulk", {"action": "reconnect", "reason": "r", "meter": "6", "confirm": "1"}, {"viewer": 403, "operator": 403, "admin": 302}),
    ("POST", "/meters/6/schedule", {"action": "reconnect", "at": "2099-01-01T00:00", "reason": "r"},
     {"viewer": 403, "operator": 403, "admin": 302}),
    ("POST", "/meters/6/payments", {"amount": "10", "reference": "x"}, {"viewer": 403, "operator": 302, "admin": 302}),
    ("POST", "/meters/3/restore-power", {}, {"viewer": 403, "operator": 403, "admin": 302}),
    ("GET", "/audit", None, {"viewer": 200, "operator": 200, "admin": 200}),
    ("GET", "/notifications", None, {"viewer": 200, "operator": 200, "admin": 200}),
    ("GET", "/schedules", None, {"viewer": 200, "operator": 200, "admin": 200}),
    ("GET", "/meters/1", None, {"viewer": 200, "operator": 200, "admin": 200}),
]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_roles_on_each_endpoint(portal_demo, role):
    s = Session(portal_demo.app, role)
    for method, url, body, want in PERMISSION_CASES:
        if method == "GET":
            r = s.get(url)
        elif url.startswith("/api/"):
            r = s.api(url, body)
        else:
            r = s.post(url, body)
        assert r.status_code == want[role], (role, method, url, r.status_code, r.text[:300])
    if role == "viewer":  # nothing was changed by the refused requests
        assert commands_of(portal_demo, FLAT_1A) == [] and commands_of(portal_demo, FLAT_1B) == []
        assert portal_of(portal_demo).db.all("SELECT * FROM payments") == []


def test_pages_show_only_what_the_role_may_do(portal_demo):
    viewer = Session(portal_demo.app, "viewer").get("/meters/1").text
    assert 'id="disconnect"' not in viewer and 'id="reconnect"' not in viewer and 'id="payment-form"' not in viewer
    assert "can see this meter but not switch it" in viewer and 'id="nav-bulk"' not in viewer
    operator = Session(portal_demo.app, "operator").get("/meters/1").text
    assert 'id="disconnect"' not in operator and 'id="reconnect"' in operator and 'id="payment-form"' in operator
    assert 'id="schedule-form"' not in operator
    admin = Session(portal_demo.app, "admin").get("/meters/1").text
    for part in ('id="disconnect"', 'id="reconnect"', 'id="payment-form"', 'id="schedule-form"', 'id="nav-bulk"'):
        assert part in admin


# --- CSRF, sessions -----------------------------------------------------------------------------

def test_every_post_needs_the_csrf_token(portal_demo):
    app = portal_demo.app
    s = Session(app, "admin")
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    assert len(posts) >= 8
    for rule in posts:
        url = rule.rule.replace("<int:meter_id>", "1").replace("<meter_id>", "1").replace("<int:command_id>", "1")
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            r = s.c.post(url, json={"action": "off", "reason": "x"}, headers={**headers, "Accept": "application/json"})
            assert r.status_code == 400 and r.json["field"] == "csrf_token", (url, headers, r.status_code)
        r = s.c.post(url, data={"action": "disconnect", "reason": "x", "amount": "10", "reference": "x", "csrf_token": "forged"})
        assert r.status_code == (400 if url.startswith("/api/") else 302), url  # a form: back with the message
    assert commands_of(portal_demo, FLAT_1A) == []
    assert portal_of(portal_demo).db.all("SELECT * FROM payments") == []
    r = s.get("/meters")
    assert r.status_code == 200  # still logged in (logout was refused too)
    assert "The form's security token is missing or out of date: reload the page and try again." in flashes(r.text)


def test_csrf_token_of_another_session_is_refused(portal_demo):
    a = Session(portal_demo.app, "admin")
    b = Session(portal_demo.app, "admin")
    assert a.token != b.token
    r = a.c.post("/api/v1/meters/1/relay", json={"action": "off", "reason": "x"}, headers={"X-CSRF-Token": b.token})
    assert r.status_code == 400 and commands_of(portal_demo, FLAT_1A) == []


def test_idle_session_expires(portal_demo, monkeypatch):
    s = Session(portal_demo.app, "operator")
    t0 = auth.time.time()
    monkeypatch.setattr(auth.time, "time", lambda: t0 + 14 * 60)
    assert s.get("/meters").status_code == 200      # activity keeps it alive
    monkeypatch.setattr(auth.time, "time", lambda: t0 + 28 * 60)
    assert s.get("/meters").status_code == 200
    monkeypatch.setattr(auth.time, "time", lambda: t0 + 44 * 60)  # 16 minutes idle
    r = s.get("/meters")
    assert r.status_code == 302 and r.location.startswith("/login")
    assert "Your session expired; log in again." in flashes(s.get(r.location).text)
    r = s.api("/api/v1/meters/2/relay", {"action": "on"})
    assert r.status_code in (400, 401)  # the token died with the session
    assert commands_of(portal_demo, FLAT_1B) == []


def test_session_lifetime_ends_even_an_active_session(tmp_path, monkeypatch):
    with ph.start(tmp_path, config={"PORTAL_SESSION_LIFETIME": 3600}) as d:
        s = Session(d.app, "viewer")
        t0 = auth.time.time()
        for minutes in range(10, 61, 10):
            monkeypatch.setattr(auth.time, "time", lambda m=minutes: t0 + m * 60 - 1)
            assert s.get("/api/portal/meters").status_code == 200
        monkeypatch.setattr(auth.time, "time", lambda: t0 + 3601)
        r = s.get("/api/portal/meters")
        assert r.status_code == 401 and r.json["message"] == "Your session expired; log in again."


def test_logout_ends_the_session(portal_demo):
    s = Session(portal_demo.app, "admin")
    assert s.post("/logout").status_code == 302
    assert s.get("/meters").status_code == 302
    assert [r["action"] for r in portal_of(portal_demo).db.all("SELECT action FROM audit_logs ORDER BY id")] == \
        ["user.login", "user.logout"]


def test_a_cookie_copied_before_logout_is_refused_after_it(portal_demo):
    s = Session(portal_demo.app, "admin")
    cookie = s.c.get_cookie("session")
    assert cookie is not None
    assert s.post("/logout").status_code == 302
    thief = portal_demo.app.test_client()
    thief.set_cookie("session", cookie.value)  # the copy, taken while logged in
    r = thief.post("/api/v1/meters/2/relay", json={"action": "on"}, headers={"X-CSRF-Token": s.token})
    assert r.status_code in (400, 401), r.text
    assert thief.get("/meters").status_code == 302  # to the log-in page
    assert not [c for c in commands_of(portal_demo, 2) if c.kind == "relay_on"], "no command was sent with the stolen cookie"


def test_ids_too_large_for_any_row_are_not_found(portal_demo):
    s = Session(portal_demo.app, "admin")
    huge = "1" * 23
    assert s.api(f"/api/v1/meters/{huge}/relay", {"action": "on"}).status_code == 404
    assert s.get(f"/api/v1/meters/{huge}/commands").status_code == 404
    assert s.get(f"/meters/{huge}").status_code == 404
    assert s.get(f"/api/portal/meters/{huge}").status_code == 404
    assert s.get(f"/bulk/{huge}").status_code == 404
    assert s.get(f"/api/v1/commands/{huge}").status_code == 404
    assert s.api(f"/api/v1/commands/{huge}/cancel", {}).status_code == 404


def test_every_portal_meter_is_tracked_so_its_last_uplink_shows_before_any_command(portal_demo):
    tracked = {m.dev_eui for m in portal_demo.service.meters()}
    assert {e.lower() for e in ph.EUI.values() if e} <= tracked


def test_bad_settings_are_refused(tmp_path, portal_demo):
    for cfg, text in (({"PORTAL_IDLE_TIMEOUT": 0}, "PORTAL_IDLE_TIMEOUT must be a positive number"),
                      ({"PORTAL_SESSION_LIFETIME": "long"}, "PORTAL_SESSION_LIFETIME must be a positive number"),
                      ({"PORTAL_TIME_ZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'")):
        with pytest.raises(ValueError, match=text):
            create_app(portal_demo.service, db_path=str(tmp_path / "x.db"), config=cfg)
    with pytest.raises(ValueError, match="role must be one of viewer, operator, admin, got 'root'"):
        create_app(portal_demo.service, db_path=str(tmp_path / "y.db"), users={"eve": ("pw", "root")})


# --- relay commands through the pages' API ------------------------------------------------------

def test_disconnect_then_reconnect_with_audit_and_notifications(portal_demo):
    s = Session(portal_demo.app, "admin")
    r = s.api("/api/v1/meters/1/relay", {"action": "off"})
    assert r.status_code == 400 and r.json["field"] == "reason" and r.json["message"] == "A reason is required to disconnect"
    assert commands_of(portal_demo, FLAT_1A) == []
    r = s.api("/api/v1/meters/1/relay", {"action": "off", "reason": "balance zero"}, headers={"Idempotency-Key": "ui-1"})
    assert r.status_code == 200, r.json
    cid = r.json["command_id"]
    again = s.api("/api/v1/meters/1/relay", {"action": "off", "reason": "balance zero"}, headers={"Idempotency-Key": "ui-1"})
    assert again.json["command_id"] == cid  # a double click makes one command
    assert portal_demo.service.wait(cid, timeout=30).state == "confirmed"
    assert portal_demo.sim.device(EUI[FLAT_1A])["relay_closed"] is False
    m = s.get("/api/portal/meters/1").json["meter"]
    assert m["relay_state"] == "disconnected" and m["relay_label"] == "Disconnected" and m["open_command"] is None
    assert 'id="already-disconnected"' in s.get("/meters/1").text  # another disconnect is warned about first
    page = s.get("/meters/1/history").text
    assert f'data-command="{cid}" data-state="confirmed"' in page and "balance zero" in page and "confirmed" in page

    rid = s.api("/api/v1/meters/1/relay", {"action": "on"}).json["command_id"]
    assert portal_demo.service.wait(rid, timeout=30).state == "confirmed"
    assert s.get("/api/portal/meters/1").json["meter"]["relay_state"] == "connected"

    portal_of(portal_demo).notifier.drain()
    told = portal_of(portal_demo).db.all("SELECT event, message, command_id, phone FROM notifications ORDER BY id")
    assert [(n["event"], n["command_id"]) for n in told] == [("power_cut", cid), ("power_restored", rid)]
    assert "Block A, flat 1 was disconnected" in told[0]["message"] and "balance zero" not in told[0]["message"]
    assert "prepaid balance is used up. Top up" in told[0]["message"]  # its balance is 0: asked to top up
    assert told[0]["phone"] == "+27 82 555 0101"
    assert "Nobody has been told" not in s.get("/notifications").text

    audit = s.get("/audit?meter=1").text
    assert audit.count('data-action="meter.relay_off"') == 2 and audit.count('data-action="meter.relay_on"') == 1
    assert "state-confirmed" in audit and "balance zero" in audit


def test_protected_meter_is_refused_with_the_reason(portal_demo):
    s = Session(portal_demo.app, "admin")
    r = s.api(f"/api/v1/meters/{CLINIC}/relay", {"action": "off", "reason": "arrears"})
    assert r.status_code == 409 and "protected" in r.json["message"]
    assert r.json["state"] == "failed"
    assert portal_demo.sim.device(EUI[CLINIC])["relay_closed"] is True
    assert "state-failed" in s.get(f"/audit?meter={CLINIC}").text


def test_meter_without_device_eui(portal_demo):
    s = Session(portal_demo.app, "admin")
    r = s.api(f"/api/v1/meters/{STORE}/relay", {"action": "off", "reason": "x"})
    assert r.status_code == 400 and r.json["message"] == "Meter has no device EUI configured"
    assert "cannot be switched remotely" in s.get(f"/meters/{STORE}").text
    assert s.get("/meters/99").status_code == 404
    assert s.api("/api/v1/meters/99/relay", {"action": "on"}).status_code == 404


# --- payments -------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount,message", [
    ("abc", "Amount must be a number like 120,50, got 'abc'."), ("", "Amount is required (a number like 120,50)."),
    ("-5", "Amount must be more than zero."), ("0", "Amount must be more than zero."), ("0,00", "Amount must be more than zero."),
    ("1.2345", "Amount has at most two decimals."), ("1e9", "Amount must be a number like 120,50"),
    ("99999999999", "Amount must be at most 100,000.00"), ("100000,01", "Amount must be at most 100,000.00"),
    ("NaN", "Amount must be a number"), ("Infinity", "Amount must be a number"),
    ("1,050", "Amount '1,050' is ambiguous: 1050 or 1,050 as decimals?"), ("1.050", "Amount '1.050' is ambiguous"),
    ("12,345,67", "Amount '12,345,67' has more than one decimal separator"), ("1 05,50", "Amount must be a number"),
])
def test_payment_bad_amounts_write_nothing(portal_demo, amount, message):
    s = Session(portal_demo.app, "operator")
    r = s.post("/meters/1/payments", {"amount": amount, "reference": "EFT"}, follow_redirects=True)
    assert any(f.startswith(message) for f in flashes(r.text)), flashes(r.text)
    assert portal_of(portal_demo).db.all("SELECT * FROM payments") == []
    assert portal_of(portal_demo).db.meter(1)["balance_cents"] == 0


@pytest.mark.parametrize("amount,cents", [("10,50", 1050), ("10.50", 1050), ("1 050,50", 105050), ("1,050.50", 105050),
                                          ("1.050,50", 105050), ("7,5", 750), ("100000", 10_000_000), (" 20 ", 2000)])
def test_payment_amounts_are_read_with_the_regions_decimal_comma(portal_demo, amount, cents):
    # "10,50" was recorded as 1,050.00 (and reconnected the meter): the comma is the decimal separator here.
    s = Session(portal_demo.app, "operator")
    r = s.post("/meters/1/payments", {"amount": amount, "reference": "EFT"}, follow_redirects=True)
    assert r.status_code == 200
    assert [p["amount_cents"] for p in portal_of(portal_demo).db.all("SELECT * FROM payments")] == [cents], flashes(r.text)
    assert portal_of(portal_demo).db.meter(1)["balance_cents"] == cents


def test_pages_name_the_meter_models_not_profile_aliases(portal_demo):
    s = Session(portal_demo.app, "viewer")
    meters = s.get("/meters").text
    assert "Eastron SDM320C (via a Milesight UC100)" in meters and "IVY EM114039" in meters
    assert '<div class="muted">eastron_sdm</div>' not in meters and '<div class="muted">ivy_em114</div>' not in meters
    assert "<dd title=\"relaylink profile" in s.get(f"/meters/{FLAT_1A}").text


def test_the_residents_message_never_echoes_the_reason_nor_asks_one_in_credit_to_pay():
    from portal.notify import message_for
    owing = message_for("power_cut", "Block A, flat 1", "09:00", 0)
    credit = message_for("power_cut", "Block A, flat 1", "09:00", 2050)
    assert "Top up" in owing and "Top up" not in credit and "pay" not in credit.lower() and "in credit" in credit
    assert message_for("power_restored", "Block A, flat 1", "09:00", 2050) == "Your electricity supply at Block A, flat 1 was restored at 09:00."


def test_payment_needs_a_reference(portal_demo):
    s = Session(portal_demo.app, "operator")
    for ref in ("", "   ", "x" * 101):
        r = s.post("/meters/1/payments", {"amount": "10", "reference": ref}, follow_redirects=True)
        assert "A payment reference (1-100 characters) is required." in flashes(r.text)
    assert portal_of(portal_demo).db.all("SELECT * FROM payments") == []


def test_payment_reconnects_a_disconnected_meter_once_the_balance_is_enough(portal_demo):
    admin = Session(portal_demo.app, "admin")
    cid = admin.api("/api/v1/meters/1/relay", {"action": "off", "reason": "balance zero"}).json["command_id"]
    assert portal_demo.service.wait(cid, timeout=30).state == "confirmed"
    op = Session(portal_demo.app, "operator")
    r = op.post("/meters/1/payments", {"amount": "20.00", "reference": "EFT-1"}, follow_redirects=True)
    assert "Not reconnected: the balance is below the activation minimum of 50.00." in " ".join(flashes(r.text))
    assert [c.kind for c in commands_of(portal_demo, FLAT_1A)] == ["relay_off"]
    r = op.post("/meters/1/payments", {"amount": "30", "reference": "EFT-2"}, follow_redirects=True)
    assert "balance 50.00. Reconnect command #" in " ".join(flashes(r.text))
    on = commands_of(portal_demo, FLAT_1A)[0]
    assert on.kind == "relay_on" and on.created_by == "operator" and "payment EFT-2 of 30.00" in on.reason
    assert portal_demo.service.wait(on.id, timeout=30).state == "confirmed"
    assert portal_demo.sim.device(EUI[FLAT_1A])["relay_closed"] is True
    row = portal_of(portal_demo).db.one("SELECT * FROM payments WHERE reference = 'EFT-2'")
    assert row["reconnect_command_id"] == on.id
    # A payment on a connected meter reconnects nothing.
    op.post("/meters/1/payments", {"amount": "100", "reference": "EFT-3"})
    assert len(commands_of(portal_demo, FLAT_1A)) == 2
    actions = [r["action"] for r in portal_of(portal_demo).db.all("SELECT action FROM audit_logs WHERE entity_id = '1'")]
    assert actions.count("payment.recorded") == 3 and actions.count("meter.auto_reconnect") == 1


# --- schedules ----------------------------------------------------------------------------------

def local_minutes_ahead(d, minutes):
    p = portal_of(d)
    return (p.now() + timedelta(minutes=minutes)).astimezone(p.tz).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("form,message", [
    ({"action": "reconnect", "at": "tomorrow", "reason": "r"}, "Time must be a date and time (YYYY-MM-DDTHH:MM), got 'tomorrow'."),
    ({"action": "reconnect", "at": "2001-01-01T00:00", "reason": "r"}, "has passed"),
    ({"action": "reconnect", "at": "2999-01-01T00:00", "reason": "r"}, "Schedule at most 90 days ahead."),
    ({"action": "explode", "at": "FUTURE", "reason": "r"}, "Action must be disconnect or reconnect, got 'explode'."),
    ({"action": "reconnect", "at": "FUTURE", "reason": ""}, "A reason (1-500 characters) is required"),
])
def test_schedule_bad_values_write_nothing(portal_demo, form, message):
    s = Session(portal_demo.app, "admin")
    form = {k: (local_minutes_ahead(portal_demo, 120) if v == "FUTURE" else v) for k, v in form.items()}
    r = s.post("/meters/6/schedule", form, follow_redirects=True)
    assert any(message in f for f in flashes(r.text)), flashes(r.text)
    assert commands_of(portal_demo, FLAT_3A) == []


def test_reconnect_at_runs_when_its_time_comes(tmp_path):
    with ph.start(tmp_path, speed=2400) as d:  # 30 simulated minutes in 0.75 s
        reconnect_at_story(d)


def reconnect_at_story(portal_demo):
    s = Session(portal_demo.app, "admin")
    cid = s.api("/api/v1/meters/4/relay", {"action": "off", "reason": "arrears"}).json["command_id"]
    assert portal_demo.service.wait(cid, timeout=30).state == "confirmed"
    at = local_minutes_ahead(portal_demo, 30)
    r = s.post("/meters/4/schedule", {"action": "reconnect", "at": at, "reason": "arrangement agreed"}, follow_redirects=True)
    assert any(f.startswith("Reconnect scheduled for") for f in flashes(r.text)), flashes(r.text)
    sched = commands_of(portal_demo, FLAT_2B)[0]
    assert sched.kind == "relay_on" and sched.state == "pending" and sched.not_before is not None
    assert f'data-command="{sched.id}"' in s.get("/schedules").text
    assert portal_demo.service.wait(sched.id, timeout=30).state == "confirmed"
    assert portal_demo.service.command(sched.id).sent_at >= sched.not_before
    assert "Nothing scheduled." in s.get("/schedules").text


def test_a_scheduled_command_can_be_cancelled(portal_demo):
    s = Session(portal_demo.app, "admin")
    s.post("/meters/6/schedule", {"action": "disconnect", "at": local_minutes_ahead(portal_demo, 600), "reason": "move out"})
    c = commands_of(portal_demo, FLAT_3A)[0]
    r = s.api(f"/api/v1/commands/{c.id}/cancel", {"reason": "tenant stays"})
    assert r.status_code == 200 and r.json["command"]["state"] == "cancelled"
    assert "Nothing scheduled." in s.get("/schedules").text


# --- bulk ---------------------------------------------------------------------------------------

def csv_file(text, name="meters.csv"):
    return (io.BytesIO(text.encode()), name)


def test_bulk_csv_problems_refuse_the_whole_run(portal_demo):
    s = Session(portal_demo.app, "admin")
    body = "device_eui,name\n0101010101010101,a\nnot-an-eui,b\n0A0A0A0A0A0A0A0A,c\n\n"
    r = s.post("/bulk", {"action": "disconnect", "reason": "arrears", "meter": "4", "csv": csv_file(body)},
               content_type="multipart/form-data")
    assert r.status_code == 400
    text = " ".join(flashes(r.text))
    assert "Nothing was sent" in text and "line 3: 'not-an-eui' is not a device EUI (16 hex digits)" in text
    assert "0A0A0A0A0A0A0A0A is not a meter of this portal" in text
    assert all(commands_of(portal_demo, m) == [] for m in (FLAT_1A, FLAT_2B))
    assert portal_of(portal_demo).db.all("SELECT * FROM bulk_runs") == []


@pytest.mark.parametrize("form,message", [
    ({"action": "disconnect", "reason": "x"}, "No meters chosen"),
    ({"action": "reboot", "reason": "x", "meter": "1"}, "Choose disconnect or reconnect."),
    ({"action": "disconnect", "reason": "", "meter": "1"}, "A reason (1-500 characters) is required."),
    ({"action": "disconnect", "reason": "x", "meter": "77"}, "meter '77' does not exist"),
    ({"action": "disconnect", "reason": "x", "meter": str(STORE)}, "Store room has no device EUI"),
])
def test_bulk_bad_forms(portal_demo, form, message):
    s = Session(portal_demo.app, "admin")
    r = s.post("/bulk", form)
    assert r.status_code == 400 and message in r.text.replace("&#39;", "'")
    assert portal_of(portal_demo).db.all("SELECT * FROM bulk_runs") == []


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe\x00bad", "The file is not UTF-8 text"), (b"", "The file is empty."),
])
def test_bulk_unreadable_csv(portal_demo, content, message):
    s = Session(portal_demo.app, "admin")
    r = s.post("/bulk", {"action": "disconnect", "reason": "x", "csv": (io.BytesIO(content), "m.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and message in r.text


def test_bulk_run_reaches_every_outcome_with_refusals_explained(portal_demo):
    s = Session(portal_demo.app, "admin")
    body = "0404040404040404\n0505050505050505\n0606060606060606\n0404040404040404\n"  # no header, a duplicate
    r = s.post("/bulk", {"action": "disconnect", "reason": "arrears run", "meter": str(FLAT_1B), "csv": csv_file(body)},
               content_type="multipart/form-data")
    # First the confirmation: the count, who is in credit; nothing sent yet. It carries the CSV's EUIs itself.
    assert r.status_code == 200 and "Disconnect 4 meters?" in r.text, r.text[:500]
    assert portal_of(portal_demo).db.all("SELECT * FROM bulk_runs") == []
    fields = re.findall(r'<input type="hidden" name="(meter|eui)" value="([^"]+)">', r.text)
    assert sorted(v for k, v in fields if k == "eui") == sorted({EUI[FLAT_2B], EUI[CLINIC], EUI[FLAT_3A]} - {EUI[FLAT_1B]})
    r = s.post("/bulk", {"action": "disconnect", "reason": "arrears run", "confirm": "1",
                         **{k: [v for kk, v in fields if kk == k] for k in ("meter", "eui")}})
    assert r.status_code == 302
    url = r.location.replace("/bulk/", "/api/portal/bulk/")
    run = s.get(url).json["run"]
    assert run["total"] == 4
    import time
    deadline = time.monotonic() + 30
    while not run["finished"] and time.monotonic() < deadline:
        time.sleep(0.1)
        run = s.get(url).json["run"]
    assert run["finished"] and run["percent"] == 100
    outcome = {it["device_eui"]: (it["outcome"], it["detail"]) for it in run["items"]}
    assert outcome[EUI[CLINIC]][0] == "refused" and "protected" in outcome[EUI[CLINIC]][1]
    for m in (FLAT_1B, FLAT_2B, FLAT_3A):
        assert outcome[EUI[m]][0] == "confirmed", outcome
        assert portal_demo.sim.device(EUI[m])["relay_closed"] is False
    assert run["counts"] == {"confirmed": 3, "refused": 1}
    kept = portal_of(portal_demo).db.all("SELECT device_eui, outcome FROM bulk_items WHERE problem IS NULL")
    assert sorted(r["outcome"] for r in kept) == ["confirmed"] * 3  # final outcomes are kept: later polls skip relaylink
    assert s.get(url).json["run"] == run
    page = s.get(r.location).text
    assert "arrears run" in page and 'id="bulk-bar"' in page
    # The same run resubmitted (a browser retry) makes no new command: the keys are per run.
    assert len(commands_of(portal_demo, FLAT_2B)) == 1
    # Not plain green: one meter was refused.
    assert run["health"] == "mixed" and run["not_done"] == 1 and 'class="bar health-mixed finished"' in page
    # One audit entry per meter: filtering the audit trail by a meter finds the bulk run that switched it.
    rows = portal_of(portal_demo).db.all("SELECT * FROM audit_logs WHERE action = 'meter.bulk_disconnect' ORDER BY entity_id")
    assert sorted(int(r["entity_id"]) for r in rows) == sorted([FLAT_1B, FLAT_2B, CLINIC, FLAT_3A])
    assert any("protected" in (r["new_values"] or "") for r in rows if r["entity_id"] == str(CLINIC))
    assert 'data-action="meter.bulk_disconnect"' in s.get(f"/audit?meter={FLAT_2B}").text  # the filter by meter finds it


def test_bulk_asks_first_showing_the_count_and_the_meters_in_credit(portal_demo):
    p = portal_of(portal_demo)
    with p.db.tx() as tx:
        tx.execute("UPDATE meters SET balance_cents = 2050 WHERE id = ?", (FLAT_2B,))
        tx.execute("UPDATE meters SET balance_cents = -100 WHERE id = ?", (FLAT_1B,))
    s = Session(portal_demo.app, "admin")
    r = s.post("/bulk", {"action": "disconnect", "reason": "arrears", "meter": [str(FLAT_1B), str(FLAT_2B)]})
    assert r.status_code == 200 and "Disconnect 2 meters?" in r.text
    credit = re.search(r'id="bulk-in-credit">(.*?)</p>', r.text, re.S).group(1)
    assert "1 of them is in credit" in credit and "20.50" in credit and p.db.meter(FLAT_1B)["name"] not in credit
    assert p.db.all("SELECT * FROM bulk_runs") == [] and commands_of(portal_demo, FLAT_2B) == []
    r = s.post("/bulk", {"action": "reconnect", "reason": "paid", "meter": [str(FLAT_2B)]})
    assert "Reconnect 1 meter?" in r.text and 'id="bulk-in-credit"' not in r.text  # credit matters to a disconnect


# --- audit trail, notifications -------------------------------------------------------------------

def test_audit_trail_filters(portal_demo):
    admin = Session(portal_demo.app, "admin")
    op = Session(portal_demo.app, "operator")
    admin.api("/api/v1/meters/1/relay", {"action": "off", "reason": "r1"})
    op.api("/api/v1/meters/2/relay", {"action": "on", "reason": "r2"})
    op.post("/meters/2/payments", {"amount": "5", "reference": "P-1"})
    page = admin.get("/audit?user=operator").text
    assert 'data-action="meter.relay_on"' in page and 'data-action="payment.recorded"' in page
    assert 'data-action="meter.relay_off"' not in page
    page = admin.get("/audit?meter=1").text
    assert 'data-action="meter.relay_off"' in page and "payment.recorded" not in page.split('id="audit"')[1]
    page = admin.get("/audit?action=payment.recorded").text
    rows = page.split('id="audit"')[1]
    assert rows.count("data-action=") == 1 and "P-1" in rows
    assert "No entries match these filters" in admin.get("/audit?user=nobody").text
    assert admin.get("/audit?page=abc").status_code == 200


def test_a_failing_sender_is_recorded_not_fatal(tmp_path):
    class Failing:
        def __init__(self):
            self.seen = []

        def send(self, n: Notification) -> None:
            self.seen.append(n)
            raise RuntimeError("SMS gateway down")

    with ph.start(tmp_path) as d:
        p = portal_of(d)
        sender = Failing()
        p.notifier.sender = sender
        s = Session(d.app, "admin")
        cid = s.api("/api/v1/meters/1/relay", {"action": "off", "reason": "r"}).json["command_id"]
        assert d.service.wait(cid, timeout=30).state == "confirmed"
        p.notifier.drain()
        assert [n.event for n in sender.seen] == ["power_cut"]
        assert p.db.one("SELECT error FROM notified WHERE command_id = ?", (cid,))["error"] == "SMS gateway down"
        assert p.notifier.failed == 1
        # The portal carries on.
        assert s.get("/meters").status_code == 200


# --- run.py ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--port", "abc"], "port must be a number 0-65535, got 'abc'"),
    (["--port", "70000"], "port must be 0-65535, got 70000"),
    (["--speed", "0"], "--speed must be more than 0"),
    (["--window", "08:00"], "--window must look like 08:00-16:00"),
    (["--time-zone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--window", "25:00-26:00"], "window_start"),
])
def test_run_py_bad_arguments(args, message):
    r = subprocess.run([sys.executable, str(ph.PORTAL_DIR / "run.py"), "--port", "0", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_bridge_powered_from_the_load_side(tmp_path):
    """Flat 2A's UC100 loses power with the relay: the page says so, a payment's reconnect waits for
    power on site, and the simulator's 'restore power' (a technician) lets it through."""
    from portal_helpers import FLAT_2A
    with ph.start(tmp_path, speed=2400) as d:  # silence is declared after an hour of it: 1.5 s here
        load_side_story(d, FLAT_2A)


def load_side_story(portal_demo, FLAT_2A):
    s = Session(portal_demo.app, "admin")
    cid = s.api(f"/api/v1/meters/{FLAT_2A}/relay", {"action": "off", "reason": "arrears"}).json["command_id"]
    done = portal_demo.service.wait(cid, timeout=30)
    assert done.state == "failed" and "fell silent after the disconnect" in done.error
    import time
    deadline = time.monotonic() + 30
    while s.get(f"/api/portal/meters/{FLAT_2A}").json["meter"]["relay_state"] != "unreachable_after_disconnect":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    page = s.get(f"/meters/{FLAT_2A}").text
    assert "Off, silent: site visit needed" in page and "powered from the switched side" in page and 'id="restore-power"' in page
    # Read as what it is: the disconnect went out and the bridge lost power, not a failed command; and no
    # Disconnect button for a meter nobody can reach.
    history = s.get(f"/meters/{FLAT_2A}/history").text
    assert '<span class="state state-silent">sent, then silent</span>' in history and "site visit needed" in history
    assert 'state-failed">failed<' not in history  # the audit trail below still says what relaylink recorded
    assert 'id="disconnect"' not in page and 'id="site-visit"' in page
    r = s.post(f"/meters/{FLAT_2A}/payments", {"amount": "200", "reference": "CASH-9"}, follow_redirects=True)
    assert "Reconnect command #" in " ".join(flashes(r.text))
    on = commands_of(portal_demo, FLAT_2A)[0]
    assert on.kind == "relay_on" and "only be delivered after power is restored on site" in portal_demo.service.command(on.id).note
    assert s.post(f"/meters/{FLAT_2A}/restore-power").status_code == 302
    assert portal_demo.service.wait(on.id, timeout=30).state == "confirmed"
    assert s.get(f"/api/portal/meters/{FLAT_2A}").json["meter"]["relay_state"] == "connected"


def test_disconnect_outside_the_window_is_deferred_and_shown(tmp_path):
    import relaylink
    with relaylink.Simulator(speed=1) as probe:
        hour = probe.now().hour
    start = hour + 2 if hour + 2 <= 22 else hour - 3  # a window that does not hold the next hour or so
    safety = {"windows": True, "time_zone": "UTC", "window_start": f"{start:02d}:00", "window_end": f"{start + 1:02d}:00",
              "outside": "defer"}
    with ph.start(tmp_path, speed=1, safety=safety) as d:  # real time: the window stays shut during the test
        s = Session(d.app, "admin")
        r = s.api(f"/api/v1/meters/{FLAT_1A}/relay", {"action": "off", "reason": "arrears"})
        assert r.status_code == 200 and "deferred until" in r.json["message"], r.json
        c = d.service.command(r.json["command_id"])
        assert c.state == "pending" and c.not_before is not None and c.not_before.hour == start
        m = s.get(f"/api/portal/meters/{FLAT_1A}").json["meter"]
        assert m["open_command"]["id"] == c.id and m["open_command"]["not_before"].endswith(f"{start:02d}:00:00")
        assert f'data-command="{c.id}"' in s.get("/schedules").text  # waiting for its time, like a schedule
        r = s.post("/bulk", {"action": "disconnect", "reason": "arrears", "meter": str(FLAT_3A), "confirm": "1"})
        item = s.get(r.location.replace("/bulk/", "/api/portal/bulk/")).json["run"]["items"][0]
        assert item["outcome"] == "pending" and item["detail"].startswith("deferred until")
        # Reconnects are never held back by the window.
        on = s.api(f"/api/v1/meters/{FLAT_1B}/relay", {"action": "on"}).json
        assert d.service.command(on["command_id"]).not_before is None
