"""Log-in, roles, permissions, CSRF and session expiry.

Roles are sets of permissions (the portal's own are rows; here a table in code):

=========  ==========================================================================
viewer     sees meters, commands, the audit trail, schedules and notifications
operator   + reconnects, records payments (which may reconnect)
admin      + disconnects, bulk runs, schedules, cancels, restores power in the simulator
=========  ==========================================================================

Every view is wrapped by :func:`requires`; every POST must carry the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``); a session ends after ``PORTAL_IDLE_TIMEOUT`` seconds
without a request and ``PORTAL_SESSION_LIFETIME`` seconds after log-in, whichever comes first, and at
log-out — on the server: each session has a row in the ``sessions`` table, so a copy of the cookie taken
before the log-out is refused after it.
"""
from __future__ import annotations

import hmac
import secrets
import time
from functools import wraps
from typing import Any, Callable, Dict, FrozenSet, Optional, TypeVar

from flask import abort, current_app, flash, g, jsonify, redirect, request, session, url_for

VIEW = frozenset({"meters.view", "audit.view", "notifications.view"})
ROLES: Dict[str, FrozenSet[str]] = {
    "viewer": VIEW,
    "operator": VIEW | {"meters.reconnect", "payments.record"},
    "admin": VIEW | {"meters.reconnect", "payments.record", "meters.disconnect", "meters.bulk", "commands.schedule",
                     "commands.cancel", "simulator.control"},
}

F = TypeVar("F", bound=Callable[..., Any])


class User:
    def __init__(self, row: Any) -> None:
        self.id: int = row["id"]
        self.username: str = row["username"]
        self.role: str = row["role"]
        self.permissions = ROLES.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json" \
        or request.is_json


def current_user() -> Optional[User]:
    user: Optional[User] = g.get("user")
    return user


def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return str(tok)


def log_in(user: User) -> None:
    session.clear()  # nothing from before the log-in survives it (session fixation)
    now = time.time()
    sid = secrets.token_urlsafe(32)
    current_app.extensions["portal"].db.start_session(sid, user.id)
    session.update(uid=user.id, sid=sid, login_at=now, seen_at=now, csrf=secrets.token_urlsafe(32))
    session.permanent = True


def log_out() -> None:
    """End the session on the server: a copy of its cookie taken before is refused from now on."""
    sid = session.get("sid")
    if sid:
        current_app.extensions["portal"].db.end_session(str(sid))
    session.clear()


def load_user() -> None:
    """before_request: the user of a live session, or None; an expired session is ended and said so."""
    g.user = None
    uid = session.get("uid")
    if uid is None:
        return
    cfg = current_app.config
    now = time.time()
    idle = now - float(session.get("seen_at", 0))
    age = now - float(session.get("login_at", 0))
    if idle > cfg["PORTAL_IDLE_TIMEOUT"] or age > cfg["PORTAL_SESSION_LIFETIME"]:
        session.clear()
        g.session_expired = "idle" if idle > cfg["PORTAL_IDLE_TIMEOUT"] else "lifetime"
        return
    db = current_app.extensions["portal"].db
    if not db.session_live(str(session.get("sid", "")), int(uid)):  # logged out (or from before sessions were kept)
        session.clear()
        return
    row = db.user_by_id(int(uid))
    if row is None:  # the account was removed
        session.clear()
        return
    g.user = User(row)
    session["seen_at"] = now


def check_csrf() -> Any:
    """before_request: every state-changing request carries the session's token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if request.endpoint in current_app.config["PORTAL_CSRF_EXEMPT"]:
        return None
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    want = session.get("csrf", "")
    if not given or not want or not hmac.compare_digest(str(given), str(want)):
        msg = ("Your session expired; log in again." if g.get("session_expired")
               else "The form's security token is missing or out of date: reload the page and try again.")
        if wants_json():
            return jsonify(success=False, message=msg, field="csrf_token"), 400
        flash(msg, "error")
        return redirect(url_for("portal.login", next=request.path) if g.user is None else request.referrer or url_for("portal.meters"))
    return None


def requires(permission: str) -> Callable[[F], F]:
    """Log-in required, then the permission: 401/redirect to log-in without a user, 403 without the permission."""

    def deco(f: F) -> F:
        @wraps(f)
        def wrapper(*a: Any, **kw: Any) -> Any:
            user = current_user()
            if user is None:
                why = "Your session expired; log in again." if g.get("session_expired") else "Please log in."
                if wants_json():
                    return jsonify(success=False, message=why), 401
                flash(why, "info")
                return redirect(url_for("portal.login", next=request.full_path if request.query_string else request.path))
            if not user.can(permission):
                if wants_json():
                    return jsonify(success=False, message=f"Permission denied: {permission} is required",
                                   permission=permission), 403
                abort(403, description=f"Your role ({user.role}) does not allow this: {permission} is required.")
            return f(*a, **kw)

        return wrapper  # type: ignore[return-value]

    return deco


def authorize(permission: str) -> bool:
    """For relaylink.flask's blueprint: abort 401 without a user, False without the permission."""
    user = current_user()
    if user is None:
        abort(401)
    return user.can(permission)


def safe_next(target: Optional[str]) -> str:
    """Only a path on this site (no open redirect through ?next=)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("portal.meters")
