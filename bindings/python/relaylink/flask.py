"""Relay control for a Flask app: a Blueprint over a :class:`relaylink.RelayService`.

::

    from relaylink.flask import relay_blueprint, MeterTarget

    def resolve(meter_id):                      # the portal's meter id -> devEui and profile
        m = Meter.query.get(meter_id)
        if m is None:
            return None
        return MeterTarget(dev_eui=m.device_eui, profile=m.lorawan_device_type or "eastron_sdm", meter_ref=str(m.id))

    app.register_blueprint(relay_blueprint(
        service=lambda: current_app.extensions["relaylink"],
        resolve_meter=resolve,
        decorators=[login_required, requires_permission("meters.edit")],   # the portal's own
        actor=lambda: current_user.username,
        audit=log_action,                       # the portal's helper: called as log_action(action, entity_type=...)
        integration_secret=os.environ["RELAYLINK_INTEGRATION_SECRET"],
    ), url_prefix="/api/v1")

Routes (relative to the blueprint's prefix):

=====================================  ================  ===============================================
``POST /meters/<id>/relay``            ``meters.edit``   ``{"action": "off"|"on", "reason": "..."}``: the
                                                         portal's contract, plus ``command_id``, ``state``
``GET  /meters/<id>/commands``         ``meters.view``   the meter's commands, newest first
``GET  /commands/<n>``                 ``meters.view``   one command with its audit trail
``POST /commands/<n>/cancel``          ``meters.edit``   cancel (``{"reason": "..."}``)
``POST <integration_path>?event=...``  shared secret     ChirpStack's HTTP integration (JSON events)
=====================================  ================  ===============================================

Every answer is JSON with ``success`` and ``message``; errors: 400 (bad request, with the field),
403 (permission), 404 (unknown meter or command), 409 (refused by the safety guard), 500 (store).
"""
from __future__ import annotations

import hmac
import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from flask import Blueprint, Response, jsonify, request

from . import RelayService
from ._errors import EventError, RelaylinkError, RequestError, StoreError

log = logging.getLogger("relaylink.flask")


@dataclass(frozen=True)
class MeterTarget:
    """What relaylink needs to know about a portal meter."""

    dev_eui: Optional[str]
    profile: str = ""         # a relaylink profile name or alias; the portal's device_type works ("eastron_sdm", "ivy_em114")
    meter_ref: str = ""       # the portal's meter id, kept with each command


Reply = Tuple[Response, int]
MeterResolver = Callable[[str], Union[None, MeterTarget, Dict[str, Any], Tuple[Any, ...]]]

_PERMISSIONS = {"view": "meters.view", "relay_off": "meters.edit", "relay_on": "meters.edit", "cancel": "meters.edit"}

_DELIVERY_NOTE = ("It will be delivered after the device's next uplink (Class A: typically 5-20 minutes); "
                  "follow it with GET /commands/{id}.")


def _target(value: Any) -> Optional[MeterTarget]:
    if value is None or isinstance(value, MeterTarget):
        return value
    if isinstance(value, dict):
        return MeterTarget(dev_eui=value.get("dev_eui") or value.get("device_eui"),
                           profile=value.get("profile") or value.get("device_type") or "",
                           meter_ref=str(value.get("meter_ref", "")))
    if isinstance(value, tuple):
        return MeterTarget(*value)
    raise TypeError(f"resolve_meter must return None, a MeterTarget, a dict or a tuple, got {type(value).__name__}")


def _answer(http_status: int, message: str, /, **extra: Any) -> Tuple[Response, int]:
    body = {"success": 200 <= http_status < 300, "message": message}
    body.update(extra)
    return jsonify(body), http_status


def _required_positional(f: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume authorize(permission)
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def relay_blueprint(service: Union[RelayService, Callable[[], RelayService]], *,
                    resolve_meter: MeterResolver,
                    authorize: Optional[Callable[..., bool]] = None,
                    current_user: Optional[Callable[[], Any]] = None,
                    actor: Optional[Callable[[], str]] = None,
                    audit: Optional[Callable[..., Any]] = None,
                    integration_path: str = "/chirpstack/events",
                    integration_secret: Optional[str] = None,
                    integration_secret_header: str = "X-Relaylink-Secret",
                    permissions: Optional[Mapping[str, str]] = None,
                    reason_required: Iterable[str] = (),
                    decorators: Sequence[Callable[[Callable[..., Any]], Callable[..., Any]]] = (),
                    name: str = "relaylink") -> Blueprint:
    """The Blueprint. ``service``: the service, or a callable returning it (app factories).
    ``resolve_meter(meter_id)``: the meter's devEui and profile, or None when unknown.
    ``authorize(user, permission)`` (or ``authorize(permission)``): True to allow (``"meters.view"``,
    ``"meters.edit"``); it may also abort (e.g. 401 for a user not logged in). Without it every
    request is allowed: only for demos. ``current_user()``: the app's user (e.g. Flask-Login's
    ``current_user``), passed to ``authorize``. ``actor()``: who asks, for the audit trail (default: the
    user's ``username``, else ``"portal"``). ``audit``: the portal's
    ``log_action(action, entity_type=, entity_id=, old_values=, new_values=)``; its failures are
    logged, never fatal. ``integration_secret``: required header value for ChirpStack's POSTs
    (None: the integration route is not registered; ``""``: no secret, loopback only).
    ``permissions``: the permission each route asks ``authorize`` for, by key: ``"view"`` (default
    ``"meters.view"``), ``"relay_off"``, ``"relay_on"`` and ``"cancel"`` (default ``"meters.edit"``), e.g.
    ``{"relay_off": "meters.disconnect"}`` to let fewer people cut power than restore it.
    ``reason_required``: the actions (``"off"``, ``"on"``) refused with 400 without a reason.
    ``decorators``: the portal's own view decorators, applied to every route but ChirpStack's integration
    route (which has its shared secret), in the order Flask's ``View.decorators`` applies them — the first
    innermost, the last outermost: ``decorators=[login_required, requires_permission("meters.edit")]``. They
    decide who may call, and answer unauthenticated requests their own way; ``authorize`` stays for finer,
    per-action rules (``"relay_off"`` may ask more than ``"relay_on"``)."""
    perm = dict(_PERMISSIONS)
    for k, v in (permissions or {}).items():
        if k not in perm:
            raise ValueError(f"permissions: unknown key {k!r} (keys: {', '.join(sorted(perm))})")
        if not isinstance(v, str) or not v:
            raise ValueError(f"permissions[{k!r}] must be a non-empty permission name")
        perm[k] = v
    need_reason = frozenset(reason_required)
    if not need_reason <= {"on", "off"}:
        raise ValueError(f"reason_required: only 'on' and 'off', got {sorted(need_reason)}")
    chain = list(decorators)
    for d in chain:
        if not callable(d):
            raise TypeError(f"decorators: each must be a view decorator (a callable), got {d!r}")
    if authorize is None and not chain:
        log.warning("relaylink.flask: relay_blueprint(%r) has neither decorators nor authorize: every request may switch "
                    "relays (only for demos)", name)
    bp = Blueprint(name, __name__)

    def guarded(f: Callable[..., Any]) -> Callable[..., Any]:
        view = f
        for d in chain:  # as Flask's View.decorators: the first listed is applied first (innermost)
            view = d(view)
        return view

    def svc() -> RelayService:
        return service if isinstance(service, RelayService) else service()

    authorize_takes_user = authorize is not None and _required_positional(authorize) >= 2

    def user() -> Any:
        return current_user() if current_user else None

    def who() -> str:
        try:
            if actor:
                name_ = actor()
            else:
                u = user()
                name_ = getattr(u, "username", None) or getattr(u, "email", None) or (u if isinstance(u, str) else "")
        except Exception:  # the app's callable failed: keep the request going, say so in the log
            log.exception("relaylink.flask: actor() failed")
            name_ = ""
        return str(name_) or "portal"

    def denied(permission: str) -> Optional[Tuple[Response, int]]:
        if authorize is None:
            return None
        if authorize(user(), permission) if authorize_takes_user else authorize(permission):
            return None
        return _answer(403, f"Permission denied: {permission} is required", permission=permission)

    def record(action: str, entity_id: str, new_values: Dict[str, Any]) -> None:
        if audit is None:
            return
        try:
            audit(action, entity_type="meter", entity_id=entity_id, new_values=new_values)
        except Exception:  # as the portal's log_action: an audit failure never breaks the request
            log.exception("relaylink.flask: audit callable failed for %s", action)

    @bp.post("/meters/<meter_id>/relay")
    @guarded
    def relay(meter_id: str) -> Reply:
        body = request.get_json(silent=True)
        action = body.get("action") if isinstance(body, dict) else None
        # The permission depends on the action; a request without a readable one is checked as a disconnect.
        if (d := denied(perm["relay_on"] if action == "on" else perm["relay_off"])) is not None:
            return d
        if not isinstance(body, dict):
            return _answer(400, "Request body must be JSON: {\"action\": \"off\" | \"on\", \"reason\": \"...\"}", field="body")
        if action not in ("on", "off"):
            return _answer(400, f"Invalid action: {action}. Must be 'on' or 'off'", field="action")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            return _answer(400, "reason must be text of at most 500 characters", field="reason")
        if action in need_reason and not reason.strip():
            return _answer(400, f"A reason is required to {'disconnect' if action == 'off' else 'reconnect'}", field="reason")
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            return _answer(400, "Idempotency-Key must be at most 200 characters", field="Idempotency-Key")
        try:
            target = _target(resolve_meter(meter_id))
        except TypeError as e:
            log.error("relaylink.flask: %s", e)
            return _answer(500, "The meter resolver returned something relaylink cannot use")
        if target is None:
            return _answer(404, "Meter not found")
        if not target.dev_eui:
            return _answer(400, "Meter has no device EUI configured", field="device_eui")
        service_ = svc()
        submit = service_.disconnect if action == "off" else service_.reconnect
        try:
            c = submit(target.dev_eui, profile=target.profile, meter_ref=target.meter_ref or meter_id, actor=who(),
                       reason=reason, idempotency_key=key)
        except RequestError as e:
            return _answer(400, str(e), field=e.field)
        except StoreError as e:
            log.error("relaylink.flask: store error: %s", e)
            return _answer(500, f"Relay command could not be stored: {e}")
        info = {"command_id": c.id, "state": c.state, "status": c.portal_status, "device_eui": c.dev_eui}
        record(f"meter.relay_{action}", meter_id, {"action": action, "reason": reason, **info})
        if c.state == "failed":  # the safety guard refused it
            return _answer(409, f"Relay {action.upper()} refused: {c.error}", **info)
        if c.not_before is not None and c.state == "pending":
            return _answer(200, f"Relay {action.upper()} command accepted and deferred until "
                                f"{c.not_before.isoformat()}: {c.note or c.error or 'outside the allowed window'}",
                           not_before=c.not_before.isoformat(), **info)
        return _answer(200, f"Relay {action.upper()} command queued. {_DELIVERY_NOTE.format(id=c.id)}", **info)

    @bp.get("/meters/<meter_id>/commands")
    @guarded
    def meter_commands(meter_id: str) -> Reply:
        if (d := denied(perm["view"])) is not None:
            return d
        target = _target(resolve_meter(meter_id))
        if target is None:
            return _answer(404, "Meter not found")
        if not target.dev_eui:
            return _answer(200, "Meter has no device EUI configured", commands=[])
        try:
            limit = int(request.args.get("limit", "50"))
        except ValueError:
            return _answer(400, "limit must be a number", field="limit")
        if not 1 <= limit <= 1000:
            return _answer(400, "limit must be 1-1000", field="limit")
        try:
            commands = svc().history(target.dev_eui, limit)
            meter = svc().meter(target.dev_eui)
        except RequestError as e:
            return _answer(400, str(e), field=e.field)
        return _answer(200, f"{len(commands)} command(s)", commands=[c.to_dict() for c in commands],
                       meter=meter.to_dict() if meter else None)

    @bp.get("/commands/<int(max=9223372036854775807):command_id>")
    @guarded
    def command(command_id: int) -> Reply:
        if (d := denied(perm["view"])) is not None:
            return d
        c = svc().command(command_id)
        if c is None:
            return _answer(404, f"No command {command_id}")
        return _answer(200, f"Command {command_id} is {c.state}", command=c.to_dict())

    @bp.post("/commands/<int(max=9223372036854775807):command_id>/cancel")
    @guarded
    def cancel(command_id: int) -> Reply:
        if (d := denied(perm["cancel"])) is not None:
            return d
        body = request.get_json(silent=True) or {}
        reason = body.get("reason", "") if isinstance(body, dict) else ""
        if not isinstance(reason, str):
            return _answer(400, "reason must be text", field="reason")
        c = svc().cancel(command_id, actor=who(), reason=reason)
        if c is None:
            return _answer(404, f"No command {command_id}")
        record("meter.relay_cancel", c.meter_ref, {"command_id": c.id, "state": c.state, "reason": reason})
        if c.state == "cancelled":
            return _answer(200, f"Command {command_id} cancelled", command=c.to_dict())
        return _answer(409, f"Command {command_id} could not be cancelled: it is {c.state}"
                            + (" (already on its way to the device)" if c.state in ("sent", "acknowledged") else ""),
                       command=c.to_dict())

    if integration_secret is not None:
        @bp.post(integration_path)
        def chirpstack_event() -> Reply:
            if integration_secret:
                given = request.headers.get(integration_secret_header, "")
                if not hmac.compare_digest(given.encode(), integration_secret.encode()):
                    return _answer(401, f"missing or wrong {integration_secret_header} header")
            event_type = request.args.get("event", "")
            if not event_type:
                return _answer(400, "missing ?event= (ChirpStack posts to <url>?event=up|ack|txack|log|...)", field="event")
            ctype = (request.content_type or "").lower()
            if "protobuf" in ctype or "octet-stream" in ctype:
                return _answer(415, "protobuf events are not read: set the HTTP integration's encoding to JSON")
            try:
                svc().ingest(event_type, request.get_data(cache=False))
            except EventError as e:
                return _answer(400, str(e), field=e.field)
            except RelaylinkError as e:
                log.error("relaylink.flask: event not applied: %s", e)
                return _answer(500, str(e))
            return _answer(200, "ok")

    # A route another view of the app already serves would silently win over relaylink's (or lose to
    # it, by Werkzeug's ordering): refused when the blueprint is registered, and checked again at the
    # first request for rules added after it.
    def clashes(app: Any) -> List[Tuple[str, str, str]]:
        ours: List[Tuple[str, Set[str], Any]] = []
        theirs: List[Tuple[str, Set[str], Any]] = []
        for rule in app.url_map.iter_rules():
            shape = _RULE_VARIABLE.sub("<>", rule.rule)
            methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
            (ours if rule.endpoint.startswith(bp.name + ".") else theirs).append((shape, methods, rule))
        return [(mine.rule, other.rule, other.endpoint) for shape, methods, mine in ours
                for oshape, omethods, other in theirs if shape == oshape and methods & omethods]

    def refuse_clashes(app: Any) -> None:
        found = clashes(app)
        if found:
            mine, other, endpoint = found[0]
            raise RuntimeError(f"relaylink.flask: {mine} is also served by the app's view {endpoint!r} ({other}): one of "
                               f"them would never be called. Remove that view, or register relaylink's blueprint under "
                               f"another url_prefix")

    @bp.record
    def _check_on_register(state: Any) -> None:
        # Deferred functions run in the order they were recorded: the routes above are in the map now.
        refuse_clashes(state.app)

    checked: List[bool] = []

    @bp.before_app_request
    def _check_once() -> None:
        if not checked:
            checked.append(True)
            from flask import current_app
            refuse_clashes(current_app)

    return bp


_RULE_VARIABLE = re.compile(r"<[^>]*>")

__all__ = ["relay_blueprint", "MeterTarget"]
