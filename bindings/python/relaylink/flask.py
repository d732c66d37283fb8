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
import importlib
import inspect
import json
import os
import threading
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from flask import Blueprint, Response, jsonify, request

from . import RelayService, _client_settings
from ._errors import EventError, RelaylinkError, RequestError, StoreError

log = logging.getLogger("relaylink.flask")


@dataclass(frozen=True)
class MeterTarget:
    """What relaylink needs to know about a portal meter."""

    dev_eui: Optional[str]
    profile: str = ""         # a relaylink profile name or alias; the portal's device_type works ("eastron_sdm", "ivy_em114")
    meter_ref: str = ""       # the portal's meter reference, kept with each command
    meter_id: Optional[int] = None  # the portal's meters.id: audit rows and device_commands.meter_id get it


Reply = Tuple[Response, int]
MeterResolver = Callable[[str], Union[None, MeterTarget, Dict[str, Any], Tuple[Any, ...]]]

_PERMISSIONS = {"view": "meters.view", "relay_off": "meters.edit", "relay_on": "meters.edit", "cancel": "meters.edit"}

_DELIVERY_NOTE = ("It will be delivered after the device's next uplink (Class A: typically 5-20 minutes); "
                  "follow it with GET /commands/{id}.")


def _target(value: Any) -> Optional[MeterTarget]:
    if value is None or isinstance(value, MeterTarget):
        return value
    if isinstance(value, dict):
        mid = value.get("meter_id", value.get("id"))
        return MeterTarget(dev_eui=value.get("dev_eui") or value.get("device_eui"),
                           profile=value.get("profile") or value.get("device_type") or "",
                           meter_ref=str(value.get("meter_ref", "") or (mid if mid is not None else "")),
                           meter_id=mid if isinstance(mid, int) and not isinstance(mid, bool) else None)
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


def portal_profile(device_type: Optional[str]) -> str:
    """The relaylink profile for the portal's ``lorawan_device_type``, as the portal's own module decides:
    the IVY names (``ivy_em114``, ``ivy_em114039``, ``em114039``) are the IVY EM114039, a relaylink profile
    name or alias is that profile, and every other value — None, ``eastron_sdm``, ``sdm``,
    ``milesight_em300`` — the Eastron SDM320C behind a UC100 (logged once per unknown type)."""
    from . import chirpstack_service, profiles
    if isinstance(device_type, str) and device_type:
        if device_type in chirpstack_service._IVY_TYPES:
            return "ivy_em114039"
        try:
            return profiles.get(device_type).name
        except Exception:  # not a relaylink profile: the portal's rule below
            pass
    chirpstack_service._say_unknown_once(device_type)
    return "eastron_sdm320c"


def _int_id(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _portal_error(http_status: int, error: str, /, **extra: Any) -> Tuple[Response, int]:
    body: Dict[str, Any] = {"success": False, "error": error}
    body.update(extra)
    return jsonify(body), http_status


_PORTAL_NOTE = "Command will be delivered on next device uplink (Class A)"


def relay_blueprint(service: Union[RelayService, Callable[[], RelayService]], *,
                    resolve_meter: Optional[MeterResolver] = None,
                    find_meter: Optional[Callable[[str], Any]] = None,
                    device_type: Optional[Callable[[Any], Optional[str]]] = None,
                    user_id: Optional[Callable[[], Optional[int]]] = None,
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
    per-action rules (``"relay_off"`` may ask more than ``"relay_on"``).

    ``find_meter(meter_id)``: instead of ``resolve_meter``, the portal's own lookup, returning its meter object
    (``id``, ``device_eui``, ``lorawan_device_type``) or None. With it the relay route keeps the portal's contract
    (docs/portal-integration.md): its keys, messages and status codes (``{"error": "Meter not found"}`` 404, …,
    ``success``, ``message``, ``device_eui``, ``action``, ``device_type``, ``note``), plus ``command_id``, ``state`` and
    ``not_before``; audit rows get the meter's integer id; ``device_type(meter)`` (default: its
    ``lorawan_device_type``, else ``"eastron_sdm"``) picks the profile as the portal's module does.
    ``user_id()``: the portal user's id for ``device_commands.created_by`` (default: Flask-Login's
    ``current_user.id`` when it is installed and the user is logged in)."""
    if (resolve_meter is None) == (find_meter is None):
        raise TypeError("relay_blueprint: give resolve_meter (a MeterTarget for a meter id) or find_meter (the portal's "
                        "lookup, returning its meter object), not both and not neither")
    portal_contract = find_meter is not None
    type_of: Callable[[Any], Optional[str]] = device_type or (lambda m: getattr(m, "lorawan_device_type", None))

    def meter_type(m: Any) -> str:
        return type_of(m) or "eastron_sdm"

    def portal_lookup(meter_id: str) -> Optional[Tuple[MeterTarget, str]]:
        """The portal's meter as relaylink's target, with the portal's device type."""
        assert find_meter is not None
        m = find_meter(meter_id)
        if m is None:
            return None
        mid = _int_id(getattr(m, "id", None))
        dtype = meter_type(m)
        return MeterTarget(dev_eui=getattr(m, "device_eui", None), profile=portal_profile(dtype),
                           meter_ref=str(mid if mid is not None else meter_id), meter_id=mid), dtype

    def portal_target(meter_id: str) -> Optional[MeterTarget]:
        found = portal_lookup(meter_id)
        return found[0] if found else None

    resolve: MeterResolver = resolve_meter if resolve_meter is not None else portal_target
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

    def uid() -> Optional[int]:
        try:
            if user_id is not None:
                return _int_id(user_id())
            try:
                login_user = importlib.import_module("flask_login").current_user  # the portal's; optional
            except ImportError:
                return None
            return _int_id(getattr(login_user, "id", None)) if getattr(login_user, "is_authenticated", False) else None
        except Exception:  # the app's callable failed: the command goes without a user id, the log says why
            log.exception("relaylink.flask: user_id() failed")
            return None

    def record(action: str, entity_id: Any, new_values: Dict[str, Any]) -> None:
        if audit is None:
            return
        try:
            audit(action, entity_type="meter", entity_id=entity_id, new_values=new_values)
        except Exception:  # as the portal's log_action: an audit failure never breaks the request
            log.exception("relaylink.flask: audit callable failed for %s", action)

    def reason_and_key(data: Dict[str, Any], action: str) -> Tuple[str, str, Optional[Tuple[str, str]]]:
        """The request's reason and Idempotency-Key, or what is wrong with them (message, field)."""
        reason = data.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            return "", "", ("reason must be text of at most 500 characters", "reason")
        if action in need_reason and not reason.strip():
            return "", "", (f"A reason is required to {'disconnect' if action == 'off' else 'reconnect'}", "reason")
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            return "", "", ("Idempotency-Key must be at most 200 characters", "Idempotency-Key")
        return reason, key, None

    def relay_portal(meter_id: str) -> Reply:
        # The portal's own order and words: the meter first (404, 400), then the action (400).
        try:
            found = portal_lookup(meter_id)
        except Exception:
            log.exception("relaylink.flask: find_meter failed for %r", meter_id)
            return _portal_error(500, "The meter could not be looked up")
        if found is None:
            return jsonify({"error": "Meter not found"}), 404
        target, dtype = found
        if not target.dev_eui:
            return jsonify({"error": "Meter does not have a device EUI configured"}), 400
        body = request.get_json(silent=True)
        data = body if isinstance(body, dict) else {}
        action = data.get("action", "")
        action = action.lower() if isinstance(action, str) else ""
        if action not in ("on", "off"):
            return jsonify({"error": "Invalid action. Must be 'on' or 'off'"}), 400
        needed = perm["relay_on"] if action == "on" else perm["relay_off"]
        if denied(needed) is not None:
            return _portal_error(403, f"Permission denied: {needed} is required", permission=needed)
        reason, key, problem = reason_and_key(data, action)
        if problem is not None:
            return _portal_error(400, problem[0], field=problem[1])
        service_ = svc()
        submit = service_.disconnect if action == "off" else service_.reconnect
        try:
            c = submit(target.dev_eui, profile=target.profile, meter_ref=target.meter_ref, meter_id=target.meter_id,
                       user_id=uid(), actor=who(), reason=reason, idempotency_key=key)
        except RequestError as e:
            return _portal_error(400, str(e), field=e.field)
        except StoreError as e:
            log.error("relaylink.flask: store error: %s", e)
            return _portal_error(500, f"Relay command could not be stored: {e}")
        info = {"device_eui": target.dev_eui, "action": action, "device_type": dtype, "command_id": c.id, "state": c.state,
                "not_before": c.not_before.isoformat() if c.not_before is not None and c.state == "pending" else None}
        if c.state == "failed":  # the safety guard refused it
            return _portal_error(409, f"Relay {action.upper()} refused: {c.error}", **info)
        record(f"meter.relay_{action}", target.meter_id, {"device_eui": target.dev_eui, "action": action, "device_type": dtype,
                                                          "command_id": c.id, "state": c.state, "reason": reason})
        if info["not_before"]:
            message = (f"Relay {action.upper()} command accepted: it waits until {info['not_before']} "
                       f"({c.note or c.error or 'outside the allowed window'})")
        else:
            message = f"Relay {action.upper()} command queued successfully"
        return jsonify({"success": True, "message": message, **info, "note": _PORTAL_NOTE}), 200

    @bp.post("/meters/<meter_id>/relay")
    @guarded
    def relay(meter_id: str) -> Reply:
        if portal_contract:
            return relay_portal(meter_id)
        body = request.get_json(silent=True)
        action = body.get("action") if isinstance(body, dict) else None
        # The permission depends on the action; a request without a readable one is checked as a disconnect.
        if (d := denied(perm["relay_on"] if action == "on" else perm["relay_off"])) is not None:
            return d
        if not isinstance(body, dict):
            return _answer(400, "Request body must be JSON: {\"action\": \"off\" | \"on\", \"reason\": \"...\"}", field="body")
        if action not in ("on", "off"):
            return _answer(400, f"Invalid action: {action}. Must be 'on' or 'off'", field="action")
        reason, key, problem = reason_and_key(body, action)
        if problem is not None:
            return _answer(400, problem[0], field=problem[1])
        try:
            target = _target(resolve(meter_id))
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
                       reason=reason, idempotency_key=key, meter_id=target.meter_id, user_id=uid())
        except RequestError as e:
            return _answer(400, str(e), field=e.field)
        except StoreError as e:
            log.error("relaylink.flask: store error: %s", e)
            return _answer(500, f"Relay command could not be stored: {e}")
        info = {"command_id": c.id, "state": c.state, "status": c.portal_status, "device_eui": c.dev_eui}
        record(f"meter.relay_{action}", target.meter_id if target.meter_id is not None else _int_id(target.meter_ref) or meter_id,
               {"action": action, "reason": reason, **info})
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
        target = _target(resolve(meter_id))
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
        record("meter.relay_cancel", c.meter_id if c.meter_id is not None else _int_id(c.meter_ref) or c.meter_ref,
               {"command_id": c.id, "state": c.state, "reason": reason})
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


# =============================================================================
# The Flask extension: RelayLink(app) / RelayLink().init_app(app)
# =============================================================================

#: The settings RelayLink reads from ``app.config`` (or the mapping given to :meth:`RelayLink.from_config`).
CONFIG_KEYS = (
    "RELAYLINK_DATABASE_URI", "RELAYLINK_TABLE_PREFIX", "RELAYLINK_SCHEMA", "RELAYLINK_PORTAL_TABLE",
    "RELAYLINK_PORTAL_COLUMNS", "RELAYLINK_SAFETY", "RELAYLINK_SERVICE", "RELAYLINK_MQTT_URL", "RELAYLINK_MQTT_TOPIC",
    "RELAYLINK_INTEGRATION_SECRET", "RELAYLINK_URL_PREFIX", "RELAYLINK_ROUTES", "RELAYLINK_INSTANCE", "RELAYLINK_SIMULATOR",
)


@dataclass(frozen=True)
class _Settings:
    """What RelayLink needs, read and checked once (a bad value: ConfigError naming the key)."""

    db: str
    table_prefix: str
    schema: str
    portal_table: Optional[Dict[str, Any]]
    safety: Dict[str, Any]
    service: Dict[str, Any]
    mqtt_url: str
    mqtt_topic: str
    integration_secret: Optional[str]
    url_prefix: str
    routes: bool
    instance: str
    chirpstack: Dict[str, Any]
    simulator: Any


def _setting_error(key: str, what: str, value: Any) -> Exception:
    from ._errors import ConfigError
    return ConfigError(f"{key} {what}, got {value!r}", field=key)


def _read_settings(config: Mapping[str, Any], instance_path: Optional[str]) -> _Settings:
    def text(key: str, default: str) -> str:
        v = config.get(key, default)
        if v is None:
            return default
        if not isinstance(v, str):
            raise _setting_error(key, "must be text", v)
        return v

    def mapping(key: str) -> Dict[str, Any]:
        v = config.get(key)
        if v is None or v == "":
            return {}
        if isinstance(v, str):  # from the environment: JSON
            try:
                v = json.loads(v)
            except ValueError as e:
                raise _setting_error(key, f"must be a dict or JSON object text ({e})", v) from None
        if not isinstance(v, dict):
            raise _setting_error(key, "must be a dict (or JSON object text)", v)
        return dict(v)

    uri = config.get("RELAYLINK_DATABASE_URI") or config.get("SQLALCHEMY_DATABASE_URI")
    if not uri or not isinstance(uri, str):
        raise _setting_error("RELAYLINK_DATABASE_URI", "is not set, nor SQLALCHEMY_DATABASE_URI: relaylink needs a database "
                             "(the portal's: postgresql+psycopg2://… or sqlite:///…)", uri)
    # Flask-SQLAlchemy 3 reads a relative SQLite path against the app's instance folder: the same file here.
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////") and uri != "sqlite:///:memory:" and instance_path:
        uri = "sqlite:///" + os.path.join(instance_path, uri[len("sqlite:///"):])
    portal: Optional[Dict[str, Any]] = None
    table = config.get("RELAYLINK_PORTAL_TABLE", "device_commands")
    if table not in (None, False, ""):
        if not isinstance(table, str):
            raise _setting_error("RELAYLINK_PORTAL_TABLE", "must be the portal's command table's name, or None to keep none", table)
        portal = {"table": table, "columns": mapping("RELAYLINK_PORTAL_COLUMNS")}
    routes = config.get("RELAYLINK_ROUTES", True)
    if not isinstance(routes, bool):
        raise _setting_error("RELAYLINK_ROUTES", "must be True or False", routes)
    secret = config.get("RELAYLINK_INTEGRATION_SECRET")
    if secret is not None and not isinstance(secret, str):
        raise _setting_error("RELAYLINK_INTEGRATION_SECRET", "must be text", secret)
    prefix = text("RELAYLINK_URL_PREFIX", "/api/v1")
    if prefix and not prefix.startswith("/"):
        raise _setting_error("RELAYLINK_URL_PREFIX", "must start with /", prefix)
    chirpstack = _client_settings(config)
    return _Settings(db=uri, table_prefix=text("RELAYLINK_TABLE_PREFIX", "relaylink_"), schema=text("RELAYLINK_SCHEMA", "relaylink"),
                     portal_table=portal, safety=mapping("RELAYLINK_SAFETY"), service=mapping("RELAYLINK_SERVICE"),
                     mqtt_url=text("RELAYLINK_MQTT_URL", ""), mqtt_topic=text("RELAYLINK_MQTT_TOPIC", "application/+/device/+/event/+"),
                     integration_secret=secret, url_prefix=prefix, routes=routes, instance=text("RELAYLINK_INSTANCE", ""),
                     chirpstack=chirpstack, simulator=config.get("RELAYLINK_SIMULATOR"))


class RelayLink:
    """relaylink as a Flask extension, in Flask's own shape::

        relay = RelayLink(find_meter=find_meter, decorators=[login_required, requires_permission("meters.edit")],
                          audit=log_action)
        def create_app():
            app = Flask(__name__); app.config.from_object(Config)
            db.init_app(app); relay.init_app(app)           # or RelayLink(app, ...)

    Configured from ``app.config``: ``CHIRPSTACK_*`` as the portal has them, ``SQLALCHEMY_DATABASE_URI`` (or
    ``RELAYLINK_DATABASE_URI``) for the store, and the ``RELAYLINK_*`` keys of :data:`CONFIG_KEYS`
    (docs/portal-integration.md). Nothing is opened by ``init_app``: the service starts at the first use of
    :attr:`service` in each process — a seeding script that calls ``create_app()`` starts nothing, and under
    ``gunicorn --preload`` each worker starts its own. Outside Flask (a Celery worker that never calls
    ``create_app()``): ``relay = RelayLink.from_config(Config)``, then ``relay.service``.

    ``find_meter(meter_id)`` (the portal's lookup: its meter object or None), ``device_type``, ``user_id``,
    ``decorators``, ``authorize``, ``actor``, ``audit``, ``permissions`` and ``reason_required`` are those of
    :func:`relay_blueprint`. ``simulator``: an embedded :class:`relaylink.Simulator` (development and tests).
    """

    def __init__(self, app: Any = None, *, find_meter: Optional[Callable[[str], Any]] = None,
                 resolve_meter: Optional[MeterResolver] = None, simulator: Any = None,
                 **blueprint_options: Any) -> None:
        self._find_meter = find_meter
        self._resolve_meter = resolve_meter
        self._simulator = simulator
        self._options = blueprint_options
        self._settings: Optional[_Settings] = None
        self._lock = threading.Lock()
        self._service: Optional[RelayService] = None
        self._client: Any = None
        self._pid = 0
        if app is not None:
            self.init_app(app)

    # ---- set-up ---------------------------------------------------------------------------------

    def init_app(self, app: Any) -> None:
        """Read and check the settings (a bad one raises ConfigError naming it) and register the routes
        (``RELAYLINK_ROUTES``, under ``RELAYLINK_URL_PREFIX``, default ``/api/v1``). Opens nothing."""
        settings = _read_settings(app.config, getattr(app, "instance_path", None))
        if settings.routes and self._find_meter is None and self._resolve_meter is None:
            from ._errors import ConfigError
            raise ConfigError("RelayLink needs find_meter= (the portal's meter lookup) to serve the relay route; set "
                              "RELAYLINK_ROUTES = False to use relay.service without routes", field="RELAYLINK_ROUTES")
        self._settings = settings
        app.extensions["relaylink"] = self
        if settings.routes:
            bp = relay_blueprint(lambda: self.service, find_meter=self._find_meter, resolve_meter=self._resolve_meter,
                                 integration_secret=self._settings.integration_secret, **self._options)
            app.register_blueprint(bp, url_prefix=self._settings.url_prefix or None)

    @classmethod
    def from_config(cls, config: Any = None, **options: Any) -> "RelayLink":
        """For a process without the Flask app (a Celery worker): the settings from a mapping, from an object's
        upper-case attributes (the portal's ``Config`` class), or — with none — from the environment."""
        if config is None:
            mapping: Mapping[str, Any] = dict(os.environ)
        elif isinstance(config, Mapping):
            mapping = config
        else:
            mapping = {k: getattr(config, k) for k in dir(config) if k.isupper()}
        r = cls(**options)
        r._settings = _read_settings(mapping, None)
        return r

    # ---- the service, per process ---------------------------------------------------------------

    @property
    def service(self) -> RelayService:
        """This process's RelayService, started at first use (and again in a forked child: a service made
        before ``fork()`` — gunicorn ``--preload`` — belongs to the parent and is left to it)."""
        pid = os.getpid()
        svc = self._service
        if svc is not None and self._pid == pid and not svc.closed:
            return svc
        with self._lock:
            if self._service is not None and self._pid == pid and not self._service.closed:
                return self._service
            if self._service is not None and self._pid != pid:
                _abandoned.append((self._service, self._client))  # the parent's: never closed here
            self._service = None
            self._service, self._client = self._start()
            self._pid = pid
            return self._service

    @property
    def started(self) -> bool:
        """Whether this process has started its service."""
        return self._service is not None and self._pid == os.getpid() and not self._service.closed

    def _start(self) -> Tuple[RelayService, Any]:
        from . import ChirpStackClient
        from ._errors import ConfigError
        st = self._settings
        if st is None:
            raise RuntimeError("RelayLink: init_app(app) (or RelayLink.from_config) has not been called")
        sim = self._simulator if self._simulator is not None else st.simulator
        if sim is not None:
            client = ChirpStackClient.for_simulator(sim)
        else:
            kw = dict(st.chirpstack)
            if not kw.get("api_key"):
                raise ConfigError("CHIRPSTACK_API_KEY is not set: relaylink cannot reach ChirpStack", field="CHIRPSTACK_API_KEY")
            client = ChirpStackClient(**kw)
        settings = dict(st.service)
        if st.instance:
            settings.setdefault("instance", st.instance)
        postgres = dict(settings.pop("postgres", {}))
        postgres.setdefault("schema", st.schema)
        try:
            svc = RelayService(client, db=st.db, safety=st.safety, simulator=sim, postgres=postgres,
                               table_prefix=st.table_prefix,  # SQLite's; a PostgreSQL store has its schema
                               portal_table=st.portal_table, **settings)
        except Exception:
            client.close()
            raise
        if st.mqtt_url:
            svc.listen_mqtt(st.mqtt_url, topic=st.mqtt_topic)
        log.info("relaylink.flask: service started in process %d on %s", os.getpid(), svc.db)
        return svc, client

    def close(self) -> None:
        """Stop this process's service (idempotent)."""
        with self._lock:
            svc, client = self._service, self._client
            self._service = self._client = None
        if svc is not None and self._pid == os.getpid():
            svc.close()
            if client is not None:
                client.close()


# Services a forked child inherited from its parent: kept, never closed (their threads are the parent's).
_abandoned: List[Tuple[Any, Any]] = []


__all__ = ["relay_blueprint", "MeterTarget", "RelayLink", "portal_profile", "CONFIG_KEYS"]
