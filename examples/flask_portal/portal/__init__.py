"""An example prepaid-metering portal on relaylink: relay control in a browser.

``create_app(service, db_path=..., simulator=...)`` builds the Flask app around a running
:class:`relaylink.RelayService`. ``run.py`` next to this package starts one on the embedded simulator.
"""
from __future__ import annotations

import logging
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Tuple
from zoneinfo import ZoneInfo

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter
from werkzeug.security import generate_password_hash

import relaylink
from relaylink.flask import MeterTarget, relay_blueprint

from . import auth
from .db import PortalDB
from .notify import Notifier, Sender, TableSender

log = logging.getLogger("portal")


class _RowId(IntegerConverter):
    """`<int:…>` in this app's routes: an id a row can have. A larger number in a URL is a 404, not an
    OverflowError from SQLite (whose integers stop at 2**63 - 1)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)

DEFAULTS: Dict[str, Any] = {
    "PORTAL_IDLE_TIMEOUT": 15 * 60,          # seconds without a request before the session ends
    "PORTAL_SESSION_LIFETIME": 8 * 3600,     # seconds after log-in before the session ends
    "PORTAL_MIN_ACTIVATION_CENTS": 5000,     # balance a payment must reach to reconnect automatically
    "PORTAL_TIME_ZONE": "UTC",
    "PORTAL_POLL_MS": 1000,                  # how often pages ask for fresh states
    "PORTAL_PASSWORD_HASH": "scrypt",        # werkzeug's method for stored passwords (tests use a cheap one)
    "PORTAL_CSRF_EXEMPT": frozenset(),       # endpoints authenticated otherwise (ChirpStack's integration)
    "MAX_CONTENT_LENGTH": 1 << 20,           # uploads (bulk CSV) up to 1 MiB
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


@dataclass
class Portal:
    """What the views share: the portal's tables, relaylink's service, the simulator (demo)."""
    db: PortalDB
    service: relaylink.RelayService
    tz: ZoneInfo
    notifier: Notifier
    simulator: Optional[relaylink.Simulator] = None
    extras: Dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        """The service's clock: the simulator's when there is one."""
        return self.simulator.now() if self.simulator is not None else datetime.now(timezone.utc)

    def fmt(self, t: Optional[datetime], with_date: bool = True) -> str:
        if t is None:
            return "—"
        local = t.astimezone(self.tz)
        return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")

    def ago(self, t: Optional[datetime]) -> str:
        if t is None:
            return "never"
        s = int((self.now() - t).total_seconds())
        if s < 0:
            return "just now"
        if s < 90:
            return f"{s} s ago"
        if s < 5400:
            return f"{s // 60} min ago"
        if s < 2 * 86400:
            return f"{s // 3600} h {s % 3600 // 60} min ago"
        return f"{s // 86400} days ago"

    def log_action(self, action: str, entity_type: Optional[str] = None, entity_id: Any = None,
                   old_values: Optional[Dict[str, Any]] = None, new_values: Optional[Dict[str, Any]] = None,
                   username: Optional[str] = None) -> None:
        """The portal's helper: an audit failure never breaks the request (it is logged)."""
        try:
            user = g.get("user") if _in_request() else None
            self.db.log(user_id=user.id if user else None, username=username or (user.username if user else "system"),
                        action=action, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
                        old_values=old_values, new_values=new_values,
                        ip_address=request.remote_addr or "" if _in_request() else "",
                        user_agent=request.user_agent.string if _in_request() else "",
                        request_id=g.get("request_id", "") if _in_request() else "")
        except Exception:
            log.exception("audit log entry %s not written", action)


def _in_request() -> bool:
    from flask import has_request_context
    return has_request_context()


def create_app(service: relaylink.RelayService, *, db_path: str, simulator: Optional[relaylink.Simulator] = None,
               sender: Optional[Sender] = None, config: Optional[Dict[str, Any]] = None,
               users: Optional[Dict[str, Tuple[str, str]]] = None) -> Flask:
    """The app. ``users``: ``{username: (password, role)}`` created or updated at start.
    ``config`` overrides DEFAULTS and Flask settings (``SECRET_KEY``: a random one per start unless given)."""
    app = Flask(__name__)
    app.url_map.converters["int"] = _RowId
    app.config.update(DEFAULTS)
    app.config["SECRET_KEY"] = os.environ.get("PORTAL_SECRET_KEY") or secrets.token_hex(32)
    app.config.update(config or {})
    for key in ("PORTAL_IDLE_TIMEOUT", "PORTAL_SESSION_LIFETIME"):
        v = app.config[key]
        if not isinstance(v, (int, float)) or v <= 0:
            raise ValueError(f"{key} must be a positive number of seconds, got {v!r}")
    app.permanent_session_lifetime = app.config["PORTAL_SESSION_LIFETIME"]
    try:
        tz = ZoneInfo(app.config["PORTAL_TIME_ZONE"])
    except Exception as e:
        raise ValueError(f"PORTAL_TIME_ZONE: unknown time zone {app.config['PORTAL_TIME_ZONE']!r} ({e})") from None

    db = PortalDB(db_path)
    for name, (password, role) in (users or {}).items():
        if role not in auth.ROLES:
            raise ValueError(f"user {name!r}: role must be one of {', '.join(auth.ROLES)}, got {role!r}")
        db.add_user(name, generate_password_hash(password, method=app.config["PORTAL_PASSWORD_HASH"]), role)

    # relaylink keeps a meter (its last uplink, its relay state) only for devices it was told about:
    # every meter of the portal, from the start.
    for m in db.meters():
        if m["device_eui"]:
            try:
                service.track_meter(m["device_eui"], profile=m["device_type"] or "", meter_ref=str(m["id"]))
            except relaylink.RequestError as e:
                log.warning("meter %s (%s) is not tracked by relaylink: %s", m["id"], m["device_eui"], e)

    portal = Portal(db=db, service=service, tz=tz, notifier=None, simulator=simulator)  # type: ignore[arg-type]
    portal.notifier = Notifier(db, sender or TableSender(db), lambda t: portal.fmt(t))
    portal.extras["subscription"] = service.subscribe(portal.notifier.on_change)
    app.extensions["portal"] = portal

    from .views import bp
    app.register_blueprint(bp)

    def resolve(meter_id: str) -> Optional[MeterTarget]:
        m = db.meter(meter_id)
        return None if m is None else MeterTarget(m["device_eui"], m["device_type"], str(m["id"]))

    api = relay_blueprint(service, resolve_meter=resolve, authorize=auth.authorize,
                          actor=lambda: g.user.username if g.get("user") else "portal",
                          audit=portal.log_action, reason_required=("off",),
                          permissions={"view": "meters.view", "relay_off": "meters.disconnect",
                                       "relay_on": "meters.reconnect", "cancel": "commands.cancel"})
    app.register_blueprint(api, url_prefix="/api/v1")

    @app.before_request
    def _before() -> Any:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]
        auth.load_user()
        return auth.check_csrf()

    @app.after_request
    def _headers(resp: Any) -> Any:
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Any:
        if auth.wants_json():
            msg = {401: "Please log in.", 403: "Permission denied."}.get(e.code or 500, e.description)
            if e.code == 401 and g.get("session_expired"):
                msg = "Your session expired; log in again."
            return jsonify(success=False, message=msg), e.code
        return render_template("error.html", code=e.code, name=e.name, description=e.description), e.code

    @app.context_processor
    def _globals() -> Dict[str, Any]:
        return {"user": g.get("user"), "csrf_token": auth.csrf_token, "portal": portal,
                "poll_ms": app.config["PORTAL_POLL_MS"]}

    return app


def close_app(app: Flask) -> None:
    """Stop the notifier (after what it has queued is handed to the sender) and unsubscribe."""
    portal: Portal = app.extensions["portal"]
    try:
        portal.service.unsubscribe(portal.extras.pop("subscription"))
    except Exception:  # the service may be closed already
        pass
    portal.notifier.drain()
    portal.notifier.close()
