"""The portal's pages and the JSON its pages poll. Relay commands themselves go through relaylink's
blueprint (``/api/v1/meters/<id>/relay``, ``/api/v1/commands/<n>``, ``/api/v1/commands/<n>/cancel``)."""
from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Dict, List, Optional, Tuple

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from werkzeug.security import check_password_hash

from relaylink import RequestError

from . import auth
from .auth import requires

bp = Blueprint("portal", __name__)

RELAY_HINTS = {
    "unknown": "No relay command has been confirmed since relaylink began watching this meter, and its uplinks do not report the relay.",
    "unreachable_after_disconnect": "The disconnect went out and the meter has been silent since: its LoRaWAN bridge lost power "
                                    "with the load (it is powered from the switched side). Power is most likely off. A site "
                                    "visit is needed: a technician restores the bridge's supply; only then can it be reconnected.",
}
SITE_VISIT = "Disconnect sent; the meter fell silent (its bridge lost power with the load): site visit needed"
RELAY_LABELS = {
    "connected": "Connected",
    "disconnected": "Disconnected",
    "unknown": "Unknown",
    "unreachable_after_disconnect": "Off, silent: site visit needed",
}
# What people call the meters (the portal stores relaylink's profile names and the portal's aliases).
MODELS = {"eastron_sdm320c": "Eastron SDM320C (via a Milesight UC100)", "ivy_em114039": "IVY EM114039"}


def model_name(device_type: str) -> str:
    try:
        from relaylink import profiles
        return MODELS.get(profiles.get(device_type).name, device_type)
    except Exception:  # a type relaylink does not know: shown as stored
        return device_type


EVIDENCE = {  # relaylink's evidence ladder, in words
    "none": "",
    "gateway_accepted": "a gateway transmitted it",
    "device_acknowledged": "the device acknowledged it",
    "device_replied": "the meter answered: the relay switched",
    "state_verified": "a read-back shows the relay switched",
}
ACTIONS = {"disconnect": "relay_off", "reconnect": "relay_on"}
EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
MAX_BULK = 5000


def portal() -> Any:
    return current_app.extensions["portal"]


def money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


bp.add_app_template_filter(money, "money")


def wall(text: Any) -> str:
    """A time the portal's own tables keep (wall clock, UTC text) in the page's one format and time zone."""
    if not text:
        return "—"
    try:
        t = datetime.fromisoformat(str(text).replace(" ", "T"))
    except ValueError:
        return str(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return str(portal().fmt(t))


bp.add_app_template_filter(wall, "wall")


# --- log-in -----------------------------------------------------------------------------------------

@bp.get("/login")
def login() -> Any:
    if g.user is not None:
        return redirect(auth.safe_next(request.args.get("next")))
    if g.get("session_expired"):
        flash("Your session expired; log in again.", "info")
    return render_template("login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post() -> Any:
    username = request.form.get("username", "").strip()[:100]
    password = request.form.get("password", "")
    now = time.time()
    failures: Dict[str, List[float]] = portal().extras.setdefault("failed_logins", {})  # per user, this process
    recent = [t for t in failures.get(username, []) if now - t < 300]
    if len(recent) >= 5:
        flash("Too many failed attempts for this user: wait five minutes.", "error")
        return render_template("login.html", next=request.form.get("next", ""), username=username), 429
    row = portal().db.user(username) if username else None
    if row is None or not check_password_hash(row["password_hash"], password):
        failures[username] = recent + [now]
        portal().log_action("user.login_failed", "user", username or None, username=username or "?")
        flash("Wrong user name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), username=username), 401
    failures.pop(username, None)
    user = auth.User(row)
    auth.log_in(user)
    g.user = user
    portal().log_action("user.login", "user", user.id)
    return redirect(auth.safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    if g.user is not None:
        portal().log_action("user.logout", "user", g.user.id)
    auth.log_out()
    flash("Logged out.", "info")
    return redirect(url_for("portal.login"))


@bp.get("/")
def home() -> Any:
    return redirect(url_for("portal.meters"))


# --- meters -----------------------------------------------------------------------------------------

def meter_view(m: Any, known: Optional[Tuple[Any, Any]] = None) -> Dict[str, Any]:
    """A portal meter with what relaylink knows of it: its meter row and its newest open command
    (``known``: both already looked up, see all_meter_views)."""
    p = portal()
    if known is not None:
        row, pending = known
    elif m["device_eui"]:
        row = p.service.meter(m["device_eui"])
        pending = next((c for c in p.service.history(m["device_eui"], 5) if not c.terminal), None)
    else:
        row = pending = None
    state = row.relay_state if row else "unknown"
    return {
        "id": m["id"], "name": m["name"], "unit": m["unit"], "resident": m["resident"], "device_eui": m["device_eui"],
        "device_type": m["device_type"], "model": model_name(m["device_type"]), "balance": money(m["balance_cents"]), "balance_cents": m["balance_cents"],
        "relay_state": state, "relay_label": RELAY_LABELS.get(state, state), "relay_hint": RELAY_HINTS.get(state, ""),
        "last_uplink": p.fmt(row.last_uplink) if row else "—", "last_uplink_ago": p.ago(row.last_uplink if row else None),
        "note": row.note if row else "",
        "open_command": None if pending is None else {
            "id": pending.id, "kind": pending.kind, "state": pending.state,
            "not_before": p.fmt(pending.not_before) if pending.not_before else None},
    }


def all_meter_views() -> List[Dict[str, Any]]:
    """Every meter, with two relaylink queries in all (not two per meter): the list is polled."""
    p = portal()
    rows = {r.dev_eui.upper(): r for r in p.service.meters()}
    newest_open: Dict[str, Any] = {}
    for c in p.service.open_commands():  # oldest first: the newest stays
        newest_open[c.dev_eui.upper()] = c
    return [meter_view(m, (rows.get(m["device_eui"]), newest_open.get(m["device_eui"]))) for m in p.db.meters()]


@bp.get("/meters")
@requires("meters.view")
def meters() -> Any:
    return render_template("meters.html", meters=all_meter_views())


@bp.get("/api/portal/meters")
@requires("meters.view")
def meters_json() -> Any:
    p = portal()
    return jsonify(success=True, clock=p.fmt(p.now()), meters=all_meter_views())


def meter_or_404(meter_id: int) -> Any:
    m = portal().db.meter(meter_id)
    if m is None:
        abort(404, description=f"No meter {meter_id}.")
    return m


def command_view(c: Any, relay_state: str = "") -> Dict[str, Any]:
    p = portal()
    # A disconnect whose meter fell silent after it went out is not a failure to report as one: the relay most
    # likely opened and took the bridge's power with it (relaylink ends it `failed` for want of proof).
    silent = c.kind == "relay_off" and c.state == "failed" and c.sent_at is not None and relay_state == "unreachable_after_disconnect"
    d = {
        "id": c.id, "kind": c.kind, "action": {"relay_off": "Disconnect", "relay_on": "Reconnect"}.get(c.kind, c.kind),
        "state": c.state, "state_label": "sent, then silent" if silent else c.state, "silent": silent,
        "outcome": SITE_VISIT if silent else (EVIDENCE.get(c.evidence, c.evidence) or c.error),
        "terminal": c.terminal, "evidence": EVIDENCE.get(c.evidence, c.evidence), "error": c.error, "note": c.note,
        "created_by": c.created_by, "reason": c.reason, "created_at": p.fmt(c.created_at),
        "not_before": p.fmt(c.not_before) if c.not_before else None, "completed_at": p.fmt(c.completed_at) if c.completed_at else None,
        "retry_count": c.retry_count,
    }
    return d


@bp.get("/meters/<int:meter_id>")
@requires("meters.view")
def meter(meter_id: int) -> Any:
    m = meter_or_404(meter_id)
    p = portal()
    payments = p.db.all("SELECT * FROM payments WHERE meter_id = ? ORDER BY id DESC LIMIT 10", (meter_id,))
    default_at = (p.now() + timedelta(hours=1)).astimezone(p.tz).strftime("%Y-%m-%dT%H:%M")
    return render_template("meter.html", evidence=EVIDENCE, m=meter_view(m), history=history_of(m), payments=payments, default_at=default_at,
                           min_activation=money(current_app.config["PORTAL_MIN_ACTIVATION_CENTS"]))


def history_of(m: Any) -> List[Dict[str, Any]]:
    p = portal()
    if not m["device_eui"]:
        return []
    out = []
    meter = p.service.meter(m["device_eui"])
    relay_state = meter.relay_state if meter is not None else ""
    for c in p.service.history(m["device_eui"], 20):
        full = p.service.command(c.id)
        d = command_view(full or c, relay_state)
        d["events"] = [{"seq": e.sequence, "at": p.fmt(e.at), "from": e.from_state or "(new)", "to": e.to_state,
                        "actor": e.actor, "cause": e.cause} for e in (full.events if full else [])]
        out.append(d)
    return out


@bp.get("/meters/<int:meter_id>/history")
@requires("meters.view")
def meter_history(meter_id: int) -> Any:
    """The history table alone: the meter page swaps it in while commands move."""
    m = meter_or_404(meter_id)
    return render_template("_history.html", history=history_of(m), m=meter_view(m))


@bp.get("/api/portal/meters/<int:meter_id>")
@requires("meters.view")
def meter_json(meter_id: int) -> Any:
    p = portal()
    return jsonify(success=True, clock=p.fmt(p.now()), meter=meter_view(meter_or_404(meter_id)))


_GROUPS = re.compile(r"^\d{1,3}(?:[ \u00a0\u202f]\d{3})*$")


def parse_amount(text: str, decimal_separator: str = ",") -> Tuple[Optional[int], str]:
    """An amount as people in the portal's region type it, in cents; or why not. The decimal separator is the
    region's (the comma by default, as in South Africa: "10,50", "1 050,50"); a point is taken as one too
    when it cannot be a thousands separator ("10.50"). Digit groups may be split by spaces, or by the other
    separator when both appear ("1,050.50"). What could mean two amounts is refused ("1,050": 1050 or 1,05?)."""
    shown = text.strip()[:30]
    example = "120,50" if decimal_separator == "," else "120.50"
    t = text.strip()
    if not t:
        return None, f"Amount is required (a number like {example})."
    if t.startswith(("-", "\u2212")):
        return None, "Amount must be more than zero."
    other = "." if decimal_separator == "," else ","
    whole, frac = t, ""
    if decimal_separator in t and other in t:  # both: the last one is the decimal separator
        last = max(t.rfind(decimal_separator), t.rfind(other))
        whole, frac = t[:last], t[last + 1:]
        whole = whole.replace(t[last] == decimal_separator and other or decimal_separator, " ")
    elif decimal_separator in t or other in t:
        sep = decimal_separator if decimal_separator in t else other
        if t.count(sep) > 1:
            if sep == decimal_separator:
                return None, f"Amount {shown!r} has more than one decimal separator ({decimal_separator!r})."
            whole = t.replace(sep, " ")  # groups: 1.050.000
        else:
            whole, frac = t.split(sep)
            if len(frac) == 3 and whole.isdigit() and len(whole) <= 3:  # 1,050 / 1.050: a thousand, or decimals?
                return None, (f"Amount {shown!r} is ambiguous: {whole}{frac} or {whole}{sep}{frac} as decimals? "
                              f"Write {whole}{frac} (or {whole} {frac}) for the thousands, {example} for decimals.")
    whole_digits = whole.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if not whole_digits.isdigit() or (not whole.isdigit() and not _GROUPS.match(whole)) or (frac and not frac.isdigit()):
        return None, f"Amount must be a number like {example}, got {shown!r}."
    if len(frac) > 2:
        return None, "Amount has at most two decimals."
    if len(whole_digits) > 9:
        return None, f"Amount must be at most {money(10_000_000)} (record larger payments in parts)."
    d = Decimal(whole_digits + "." + (frac or "0"))
    if d <= 0:
        return None, "Amount must be more than zero."
    if d > 100000:
        return None, f"Amount must be at most {money(10_000_000)} (record larger payments in parts)."
    return int(d * 100), ""


@bp.post("/meters/<int:meter_id>/payments")
@requires("payments.record")
def record_payment(meter_id: int) -> Any:
    """Record a payment; a meter that is (or is being) disconnected and whose balance reaches the
    activation minimum is reconnected at once, the payment being the command's reason."""
    m = meter_or_404(meter_id)
    p = portal()
    cents, why = parse_amount(request.form.get("amount", ""), current_app.config.get("PORTAL_DECIMAL_SEPARATOR", ","))
    reference = request.form.get("reference", "").strip()
    if cents is None:
        flash(why, "error")
    elif not reference or len(reference) > 100:
        flash("A payment reference (1-100 characters) is required.", "error")
    else:
        with p.db.tx() as tx:
            cur = tx.execute("INSERT INTO payments (meter_id, amount_cents, reference, recorded_by, created_at) "
                             "VALUES (?, ?, ?, ?, datetime('now'))", (meter_id, cents, reference, g.user.username))
            pid = int(cur.lastrowid or 0)
            tx.execute("UPDATE meters SET balance_cents = balance_cents + ? WHERE id = ?", (cents, meter_id))
        balance = m["balance_cents"] + cents
        p.log_action("payment.recorded", "meter", meter_id, old_values={"balance": money(m["balance_cents"])},
                     new_values={"payment_id": pid, "amount": money(cents), "reference": reference, "balance": money(balance)})
        msg = f"Payment of {money(cents)} recorded; balance {money(balance)}."
        cmd = auto_reconnect(m, pid, reference, cents, balance)
        if cmd is not None:
            msg += f" Reconnect command #{cmd.id} is {cmd.state}: power returns after the meter's next uplink."
        elif balance < current_app.config["PORTAL_MIN_ACTIVATION_CENTS"] and needs_reconnect(m):
            msg += f" Not reconnected: the balance is below the activation minimum of {money(current_app.config['PORTAL_MIN_ACTIVATION_CENTS'])}."
        flash(msg, "success")
    return redirect(url_for("portal.meter", meter_id=meter_id))


def needs_reconnect(m: Any) -> bool:
    if not m["device_eui"]:
        return False
    svc = portal().service
    row = svc.meter(m["device_eui"])
    if row is not None and row.relay_state in ("disconnected", "unreachable_after_disconnect"):
        return True
    return any(c.kind == "relay_off" and not c.terminal for c in svc.history(m["device_eui"], 10))


def auto_reconnect(m: Any, pid: int, reference: str, cents: int, balance: int) -> Any:
    if balance < current_app.config["PORTAL_MIN_ACTIVATION_CENTS"] or not needs_reconnect(m):
        return None
    p = portal()
    cmd = p.service.reconnect(m["device_eui"], profile=m["device_type"], meter_ref=str(m["id"]), actor=g.user.username,
                              reason=f"payment {reference} of {money(cents)} recorded; balance {money(balance)}",
                              idempotency_key=f"payment-{pid}")
    with p.db.tx() as tx:
        tx.execute("UPDATE payments SET reconnect_command_id = ? WHERE id = ?", (cmd.id, pid))
    p.log_action("meter.auto_reconnect", "meter", m["id"],
                 new_values={"payment_id": pid, "command_id": cmd.id, "state": cmd.state, "reason": cmd.reason})
    return cmd


def parse_local_time(text: str) -> Tuple[Optional[datetime], str]:
    p = portal()
    try:
        naive = datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        return None, f"Time must be a date and time (YYYY-MM-DDTHH:MM), got {text.strip()[:30]!r}."
    at = naive.replace(tzinfo=p.tz)
    now = p.now()
    if at <= now:
        return None, f"{p.fmt(at)} has passed (the clock says {p.fmt(now)})."
    if at > now + timedelta(days=90):
        return None, "Schedule at most 90 days ahead."
    return at, ""


@bp.post("/meters/<int:meter_id>/schedule")
@requires("commands.schedule")
def schedule(meter_id: int) -> Any:
    m = meter_or_404(meter_id)
    p = portal()
    action = request.form.get("action", "")
    reason = request.form.get("reason", "").strip()
    at, why = parse_local_time(request.form.get("at", ""))
    if action not in ACTIONS:
        flash(f"Action must be disconnect or reconnect, got {action[:30]!r}.", "error")
    elif at is None:
        flash(why, "error")
    elif not reason or len(reason) > 500:
        flash("A reason (1-500 characters) is required for a scheduled command.", "error")
    elif not m["device_eui"]:
        flash("This meter has no device EUI configured.", "error")
    else:
        submit = p.service.disconnect if action == "disconnect" else p.service.reconnect
        cmd = submit(m["device_eui"], profile=m["device_type"], meter_ref=str(m["id"]), actor=g.user.username,
                     reason=reason, not_before=at)
        p.log_action(f"meter.schedule_{action}", "meter", meter_id,
                     new_values={"command_id": cmd.id, "state": cmd.state, "at": at.isoformat(), "reason": reason})
        if cmd.state == "failed":
            flash(f"Scheduled {action} refused: {cmd.error}", "error")
        else:
            flash(f"{action.capitalize()} scheduled for {p.fmt(cmd.not_before or at)} (command #{cmd.id}).", "success")
    return redirect(url_for("portal.meter", meter_id=meter_id))


@bp.post("/meters/<int:meter_id>/restore-power")
@requires("simulator.control")
def restore_power(meter_id: int) -> Any:
    """Demo only: what a technician does on site for a bridge powered from the meter's load side."""
    m = meter_or_404(meter_id)
    p = portal()
    if p.simulator is None or not m["device_eui"]:
        abort(404, description="Only on the simulator.")
    p.simulator.restore_power(m["device_eui"])
    p.log_action("simulator.restore_power", "meter", meter_id)
    flash("Power restored on site (simulated): the bridge will be heard again at its next uplink.", "success")
    return redirect(url_for("portal.meter", meter_id=meter_id))


# --- schedules, notifications -------------------------------------------------------------------

@bp.get("/schedules")
@requires("meters.view")
def schedules() -> Any:
    p = portal()
    now = p.now()
    rows = []
    for c in p.service.open_commands():
        if c.not_before is not None and c.not_before > now:
            m = p.db.meter_by_eui(c.dev_eui)
            rows.append({**command_view(c), "meter": m})
    return render_template("schedules.html", rows=rows)


@bp.get("/notifications")
@requires("notifications.view")
def notifications() -> Any:
    rows = portal().db.all("SELECT n.*, m.name AS meter_name FROM notifications n LEFT JOIN meters m ON m.id = n.meter_id "
                           "ORDER BY n.id DESC LIMIT 200")
    return render_template("notifications.html", rows=rows)


# --- bulk -------------------------------------------------------------------------------------------

def euis_from_csv(data: bytes) -> Tuple[List[str], List[str]]:
    """Device EUIs from an uploaded CSV (a column named device_eui/dev_eui/deveui/eui, or the first
    column); every line that is not one is reported with its number."""
    problems: List[str] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["The file is not UTF-8 text: save it as CSV (UTF-8)."]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], ["The file is empty."]
    col = 0
    start = 0
    header = [h.strip().lower() for h in rows[0]]
    for name in ("device_eui", "dev_eui", "deveui", "eui"):
        if name in header:
            col, start = header.index(name), 1
            break
    else:
        if rows[0] and not EUI.match(rows[0][0].strip()):
            start = 1  # some other header
    out = []
    for n, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(x.strip() for x in row):
            continue
        value = row[col].strip() if col < len(row) else ""
        if not EUI.match(value):
            problems.append(f"line {n}: {value[:40]!r} is not a device EUI (16 hex digits)")
        else:
            out.append(value.upper())
    return out, problems


@bp.get("/bulk")
@requires("meters.bulk")
def bulk() -> Any:
    selected = set(request.args.getlist("meter", type=int))
    return render_template("bulk.html", meters=all_meter_views(), selected=selected)


@bp.post("/bulk")
@requires("meters.bulk")
def bulk_post() -> Any:
    """Checked whole before anything is sent: one bad line refuses the run and lists every problem."""
    p = portal()
    action = request.form.get("action", "")
    reason = request.form.get("reason", "").strip()
    problems: List[str] = []
    euis: List[str] = []
    for mid in request.form.getlist("meter"):
        m = p.db.meter(mid)
        if m is None:
            problems.append(f"meter {mid[:20]!r} does not exist")
        elif not m["device_eui"]:
            problems.append(f"{m['name']} has no device EUI")
        else:
            euis.append(m["device_eui"])
    upload = request.files.get("csv")
    # Every meter with an EUI, looked up once: validation, grouping by model and the items all use it.
    by_eui = {str(m["device_eui"]).upper(): m for m in p.db.meters() if m["device_eui"]}
    if upload is not None and upload.filename:
        from_csv, csv_problems = euis_from_csv(upload.read())
        problems += csv_problems
        for e in from_csv:
            if e.upper() not in by_eui:
                problems.append(f"{e} is not a meter of this portal")
        euis += from_csv
    # The confirmation step carries the CSV's EUIs as fields (the file is not sent twice).
    for e in request.form.getlist("eui"):
        if not EUI.match(e.strip()) or e.strip().upper() not in by_eui:
            problems.append(f"{e[:40]!r} is not a meter of this portal")
        else:
            euis.append(e.strip().upper())
    euis = list(dict.fromkeys(euis))  # once each, in order
    if action not in ACTIONS:
        problems.insert(0, "Choose disconnect or reconnect.")
    if not reason or len(reason) > 500:
        problems.insert(0, "A reason (1-500 characters) is required.")
    if not euis and not problems:
        problems.append("No meters chosen: tick some or upload a CSV of device EUIs.")
    if len(euis) > MAX_BULK:
        problems.append(f"{len(euis)} meters: at most {MAX_BULK} per run.")
    if problems:
        return render_template("bulk.html", meters=all_meter_views(),
                               selected=set(request.form.getlist("meter", type=int)), problems=problems,
                               action=action, reason=reason), 400
    if request.form.get("confirm") != "1":
        # Nothing is sent before the operator has seen how many meters, and which of them are in credit.
        chosen = [by_eui[e.upper()] for e in euis]
        in_credit = [{"name": m["name"], "balance": money(m["balance_cents"])} for m in chosen if m["balance_cents"] > 0]
        return render_template("bulk.html", meters=all_meter_views(), selected=set(request.form.getlist("meter", type=int)),
                               action=action, reason=reason,
                               confirm={"count": len(chosen), "names": [m["name"] for m in chosen], "in_credit": in_credit,
                                        "meter_ids": request.form.getlist("meter"),
                                        "euis": [e for e in euis if str(by_eui[e.upper()]["id"]) not in request.form.getlist("meter")]})
    with p.db.tx() as tx:
        run_id = int(tx.execute("INSERT INTO bulk_runs (action, reason, created_by, created_at) VALUES (?, ?, ?, datetime('now'))",
                                (action, reason, g.user.username)).lastrowid or 0)
    # One relaylink bulk call per meter model: each command gets the right frame; the prefix makes a
    # resubmitted run create nothing new.
    by_profile: Dict[str, List[str]] = {}
    for e in euis:
        by_profile.setdefault(by_eui[e.upper()]["device_type"], []).append(e)
    items = []
    try:
        for profile, group in by_profile.items():
            for c in p.service.bulk(action, group, profile=profile, actor=g.user.username, reason=reason,
                                    idempotency_prefix=f"bulk-{run_id}"):
                items.append((run_id, by_eui[c.dev_eui.upper()]["id"], c.dev_eui, c.id,
                              c.error if c.state == "failed" else None))
    except RequestError as e:
        abort(400, description=str(e))
    finally:
        with p.db.tx() as tx:
            tx.executemany("INSERT INTO bulk_items (run_id, meter_id, device_eui, command_id, problem) VALUES (?, ?, ?, ?, ?)", items)
    refused = sum(1 for i in items if i[4])
    p.log_action(f"bulk.{action}", "bulk_run", run_id,
                 new_values={"meters": len(items), "refused": refused, "reason": reason})
    # One entry per meter too: the audit trail filtered by a meter shows the bulk run that switched it.
    for _run, meter_id, eui, command_id, problem in items:
        p.log_action(f"meter.bulk_{action}", "meter", meter_id,
                     new_values={"bulk_run": run_id, "command_id": command_id, "device_eui": eui, "reason": reason,
                                 **({"refused": problem} if problem else {})})
    return redirect(url_for("portal.bulk_run", run_id=run_id))


def run_progress(run_id: int) -> Dict[str, Any]:
    p = portal()
    run = p.db.one("SELECT * FROM bulk_runs WHERE id = ?", (run_id,))
    if run is None:
        abort(404, description=f"No bulk run {run_id}.")
    rows = []
    done = 0
    counts: Dict[str, int] = {}
    finals = []
    for it in p.db.all("SELECT b.*, m.name FROM bulk_items b LEFT JOIN meters m ON m.id = b.meter_id WHERE run_id = ? "
                       "ORDER BY m.name", (run_id,)):
        if it["problem"]:
            outcome, detail, terminal = "refused", it["problem"], True
        elif it["outcome"]:  # final, kept: a finished meter costs no relaylink query on later polls
            outcome, detail, terminal = it["outcome"], it["detail"] or "", True
        else:
            c = p.service.command(it["command_id"]) if it["command_id"] else None
            if c is None:
                outcome, detail, terminal = "unknown", "command not found", False
            else:
                outcome, terminal = c.state, c.terminal
                detail = c.error or EVIDENCE.get(c.evidence, c.evidence) or \
                    (f"deferred until {p.fmt(c.not_before)}" if c.not_before and not c.sent_at else "")
                if terminal:
                    finals.append((outcome, detail, run_id, it["device_eui"]))
        done += terminal
        counts[outcome] = counts.get(outcome, 0) + 1
        rows.append({"meter_id": it["meter_id"], "name": it["name"], "device_eui": it["device_eui"],
                     "command_id": it["command_id"], "outcome": outcome, "detail": detail, "terminal": terminal})
    if finals:
        with p.db.tx() as tx:
            tx.executemany("UPDATE bulk_items SET outcome = ?, detail = ? WHERE run_id = ? AND device_eui = ?", finals)
    total = len(rows)
    bad = sum(v for k, v in counts.items() if k in ("refused", "failed", "expired", "cancelled", "superseded", "unknown"))
    return {"id": run_id, "action": run["action"], "reason": run["reason"], "created_by": run["created_by"],
            "total": total, "done": done, "percent": 100 if total == 0 else round(100 * done / total),
            "counts": counts, "items": rows, "finished": done == total, "not_done": bad,
            "health": "bad" if bad and bad == total else "mixed" if bad else "good"}


@bp.get("/bulk/<int:run_id>")
@requires("meters.bulk")
def bulk_run(run_id: int) -> Any:
    return render_template("bulk_run.html", run=run_progress(run_id))


@bp.get("/api/portal/bulk/<int:run_id>")
@requires("meters.bulk")
def bulk_run_json(run_id: int) -> Any:
    return jsonify(success=True, run=run_progress(run_id))


# --- audit trail ----------------------------------------------------------------------------------

@bp.get("/audit")
@requires("audit.view")
def audit() -> Any:
    p = portal()
    meter_f = request.args.get("meter", "").strip()
    user_f = request.args.get("user", "").strip()
    action_f = request.args.get("action", "").strip()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    where, args = [], []
    if meter_f:
        where.append("entity_type = 'meter' AND entity_id = ?")
        args.append(meter_f)
    if user_f:
        where.append("username = ?")
        args.append(user_f)
    if action_f:
        where.append("action = ?")
        args.append(action_f)
    sql = "SELECT * FROM audit_logs" + (" WHERE " + " AND ".join(where) if where else "")
    rows = p.db.all(sql + " ORDER BY id DESC LIMIT 51 OFFSET ?", args + [(page - 1) * 50])
    entries = []
    for r in rows[:50]:
        new = json.loads(r["new_values"]) if r["new_values"] else {}
        old = json.loads(r["old_values"]) if r["old_values"] else {}
        outcome, detail = "", ""
        cid = new.get("command_id") if isinstance(new, dict) else None
        if isinstance(cid, int):
            c = p.service.command(cid)
            if c is not None:
                outcome, detail = c.state, c.error or EVIDENCE.get(c.evidence, c.evidence)
        entries.append({"row": r, "new": new, "old": old, "command_id": cid, "outcome": outcome, "detail": detail,
                        "reason": new.get("reason", "") if isinstance(new, dict) else "",
                        "meter": p.db.meter(r["entity_id"]) if r["entity_type"] == "meter" else None})
    return render_template(
        "audit.html", entries=entries, page=page, more=len(rows) > 50,
        filters={"meter": meter_f, "user": user_f, "action": action_f},
        meters=p.db.meters(), users=[r["username"] for r in p.db.all("SELECT DISTINCT username FROM audit_logs ORDER BY 1")],
        actions=[r["action"] for r in p.db.all("SELECT DISTINCT action FROM audit_logs ORDER BY 1")])
