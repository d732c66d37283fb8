"""A drop-in for the portal's ``app/services/chirpstack_service.py``.

Same functions, parameters, defaults, ``(success, data_or_message)`` returns, messages, config keys
and module constants; the portal changes one line::

    from relaylink import chirpstack_service

Configuration: inside a Flask app context, ``current_app.config`` (``CHIRPSTACK_API_URL``,
``CHIRPSTACK_API_KEY``, ``CHIRPSTACK_TENANT_ID``, ``CHIRPSTACK_PASSTHROUGH_PORT``); outside one, the
environment variables of the same names. Defaults as the portal's: ``http://localhost:8090``, no key,
no tenant, fPort 5.

What is different underneath (and why it is better):

- every call goes through relaylink's C++ client: connections are kept alive and reused (one per
  configuration per process, not one per call), idempotent calls (GET, PUT, DELETE) are retried
  once on a transient failure, a downlink is never retried (it could be queued twice);
- arguments are checked before anything is sent: a DevEUI that is not 16 hex digits, an fPort
  outside 1-223 or a payload of 0 or more than 242 bytes gives ``(False, <what is wrong>)`` instead
  of ChirpStack's "Odd number of digits" (500) or a downlink that is dropped later;
- ids put into URLs are percent-encoded (``../`` cannot reach another endpoint);
- the API key is never in a message or a log line (ChirpStack's own messages are scrubbed of it);
- when ChirpStack answers an error with an empty ``message`` (its 401 for a key without rights),
  the message is ``"ChirpStack API error: 401"`` rather than an empty string.

Errors never raise, as in the portal's module: a wrong argument type is ``(False, <message>)`` too.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

from . import _core
from ._errors import ChirpStackError, ConfigError

logger = logging.getLogger(__name__)

# Pre-calculated Modbus RTU frames (CRC included) for relay control, as the portal defines them.
# Eastron SDM320C behind a UC100: function 05, coil 0; 0000 = OFF (open), FF00 = ON (closed).
RELAY_OFF_COMMAND = bytes([0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA])
RELAY_ON_COMMAND = bytes([0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A])
# IVY EM114039: function 10 to register 167 (0x00A7), 4 bytes; FFFFFFFF = break (OFF), 0 = close (ON).
IVY_RELAY_OFF_COMMAND = bytes([0x01, 0x10, 0x00, 0xA7, 0x00, 0x02, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xB9, 0xA5])
IVY_RELAY_ON_COMMAND = bytes([0x01, 0x10, 0x00, 0xA7, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0xB8, 0x31])
IVY_FPORT = 10

DEFAULT_API_URL = "http://localhost:8090"
DEFAULT_PASSTHROUGH_PORT = 5

_NO_KEY = "ChirpStack API key not configured"
_NO_TENANT = "ChirpStack tenant_id not configured"

# Timeouts: the portal's requests used timeout=30 (per connect and per read); a call here gets 10 s
# to connect and 30 s for the whole exchange, and an idempotent call one retry on a transient error.
_CONNECT_TIMEOUT = 10.0
_REQUEST_TIMEOUT = 30.0
_MAX_ATTEMPTS = 2
_MAX_CLIENTS = 8  # configurations kept with their connections (a rotated key does not leak the old client)


# =============================================================================
# CONFIGURATION
# =============================================================================

def _app_config() -> Optional[Any]:
    try:
        from flask import current_app, has_app_context
    except ImportError:  # Flask is optional: without it, the environment configures
        return None
    return current_app.config if has_app_context() else None


def get_config() -> Dict[str, Any]:
    """ChirpStack configuration: Flask's ``current_app.config`` in an app context, else the environment."""
    cfg = _app_config()
    if cfg is not None:
        return {
            "api_url": cfg.get("CHIRPSTACK_API_URL", DEFAULT_API_URL),
            "api_key": cfg.get("CHIRPSTACK_API_KEY", ""),
            "tenant_id": cfg.get("CHIRPSTACK_TENANT_ID", ""),
            "passthrough_port": cfg.get("CHIRPSTACK_PASSTHROUGH_PORT", DEFAULT_PASSTHROUGH_PORT),
        }
    env = os.environ
    port: Any = env.get("CHIRPSTACK_PASSTHROUGH_PORT", "") or DEFAULT_PASSTHROUGH_PORT
    try:
        port = int(port)
    except ValueError:
        pass  # kept as given: send_downlink then reports it
    return {
        "api_url": env.get("CHIRPSTACK_API_URL", "") or DEFAULT_API_URL,
        "api_key": env.get("CHIRPSTACK_API_KEY", ""),
        "tenant_id": env.get("CHIRPSTACK_TENANT_ID", ""),
        "passthrough_port": port,
    }


# =============================================================================
# THE CLIENT: one per configuration, kept (with its connections) across calls
# =============================================================================

_lock = threading.Lock()
_clients: "OrderedDict[Tuple[str, str, float], _core.ChirpStackClient]" = OrderedDict()
_abandoned: List[Any] = []  # clients inherited through fork(): their thread is gone, they must never be destroyed


def _forget_clients_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _abandoned.extend(_clients.values())
    _clients.clear()


if hasattr(os, "register_at_fork"):  # gunicorn --preload forks after import
    os.register_at_fork(after_in_child=_forget_clients_after_fork)


def _timeout() -> float:
    """Seconds a call may take: ``CHIRPSTACK_TIMEOUT`` (relaylink's addition; default 30, as the portal's)."""
    cfg = _app_config()
    raw = cfg.get("CHIRPSTACK_TIMEOUT") if cfg is not None else os.environ.get("CHIRPSTACK_TIMEOUT")
    if raw in (None, ""):
        return _REQUEST_TIMEOUT
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = 0.0
    if not 0 < value <= 600:
        logger.warning("CHIRPSTACK_TIMEOUT must be seconds in (0, 600], got %r: using %s", raw, _REQUEST_TIMEOUT)
        return _REQUEST_TIMEOUT
    return value


def _client(config: Dict[str, Any]) -> _core.ChirpStackClient:
    timeout = _timeout()
    key = (str(config["api_url"]), str(config["api_key"]), timeout)
    with _lock:
        c = _clients.get(key)
        if c is not None:
            _clients.move_to_end(key)
            return c
        c = _core.ChirpStackClient(url=key[0], api_key=key[1], auth_header="authorization",
                                   connect_timeout=min(_CONNECT_TIMEOUT, timeout), request_timeout=timeout,
                                   max_attempts=_MAX_ATTEMPTS, retry_timeouts=False,
                                   user_agent="relaylink-chirpstack-service/0.1")
        _clients[key] = c
        while len(_clients) > _MAX_CLIENTS:
            _clients.popitem(last=False)[1].close()
        return c


def close_clients() -> None:
    """Close the kept connections (tests, or a worker shutting down). The next call opens new ones."""
    with _lock:
        while _clients:
            _clients.popitem()[1].close()


def _message(e: ChirpStackError) -> str:
    """The portal's message for a failed call."""
    if e.http_status:
        return e.detail if e.server_message else f"ChirpStack API error: {e.http_status}"
    if e.code == "timeout":
        return "ChirpStack request timed out"
    if e.code in ("connection_refused", "connection_reset", "host_not_found", "unreachable", "tls_error"):
        return "Failed to connect to ChirpStack"
    if e.code in ("invalid_dev_eui", "invalid_fport", "invalid_payload", "invalid_argument", "expires_in_past"):
        return e.message  # refused before sending: what is wrong, in words
    return f"ChirpStack request failed: {e.message}"


def _listing(endpoint: str, params: Optional[Dict[str, Any]] = None) -> Tuple[bool, Any]:
    """A GET whose value is the body's ``result`` list."""
    success, result = _make_request("GET", endpoint, params=params)
    if success:
        return True, result.get("result", [])
    return False, result


def _tenant_params(limit: int) -> Dict[str, Any]:
    """``limit``, and ``tenantId`` when one is configured (ChirpStack v4 lists per tenant)."""
    params: Dict[str, Any] = {"limit": limit}
    tenant = get_config().get("tenant_id")
    if tenant:
        params["tenantId"] = tenant
    return params


def _delete(what: str, endpoint: str, ident: str) -> Tuple[bool, str]:
    """A DELETE with the portal's "<What> deleted successfully"."""
    logger.info("Deleting %s %s from ChirpStack", what.lower(), ident)
    success, result = _make_request("DELETE", endpoint)
    if success:
        logger.info("%s %s deleted from ChirpStack", what, ident)
        return True, f"{what} deleted successfully"
    return False, result


def _set_given(record: Dict[str, Any], **fields: Any) -> Dict[str, Any]:
    """`record` with the fields that are not None set (the update functions change only what they are given)."""
    record.update({k: v for k, v in fields.items() if v is not None})
    return record


def _path(*segments: Any) -> str:
    return "/api/" + "/".join(quote(str(s), safe="") for s in segments)


def _make_request(method: str, endpoint: str, json_data: Optional[Dict[str, Any]] = None,
                  params: Optional[Dict[str, Any]] = None) -> Tuple[bool, Any]:
    """One call: ``(True, body)`` for a 2xx answer, ``(False, message)`` otherwise."""
    config = get_config()
    if not config["api_key"]:
        return False, _NO_KEY
    target = endpoint
    if params:
        target += "?" + urlencode({k: v for k, v in params.items() if v is not None})
    try:
        client = _client(config)
        return True, client.request(method, target, json_data)
    except ChirpStackError as e:
        message = _message(e)
        logger.error("ChirpStack request failed: %s", message)
        return False, message
    except ConfigError as e:
        return False, f"ChirpStack request failed: {e}"
    except (TypeError, ValueError) as e:  # a body that is not JSON, a path relaylink refuses
        return False, f"ChirpStack request failed: {e}"


# =============================================================================
# DOWNLINK COMMANDS
# =============================================================================

def send_downlink(device_eui: str, payload: bytes, port: Optional[int] = None,
                  confirmed: bool = False) -> Tuple[bool, str]:
    """Queue a downlink (``payload``: raw bytes) on ``port`` (default: the pass-through port)."""
    config = get_config()
    if not config["api_key"]:
        logger.warning(_NO_KEY)
        return False, _NO_KEY
    if port is None:
        port = config["passthrough_port"]
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return False, f"payload must be bytes, got {type(payload).__name__}"
    try:
        port = int(port)
    except (TypeError, ValueError):
        return False, f"fPort must be 1-223, got {port!r}"
    payload = bytes(payload)
    logger.info("Sending downlink to %s on port %s: %s", device_eui, port, payload.hex())
    try:
        _client(config).enqueue(str(device_eui), payload, f_port=port, confirmed=bool(confirmed))
    except ChirpStackError as e:
        message = _message(e)
        logger.error("ChirpStack request failed: %s", message)
        return False, message
    except ConfigError as e:
        return False, f"ChirpStack request failed: {e}"
    logger.info("Downlink queued successfully for %s", device_eui)
    return True, "Downlink queued successfully"


_EASTRON = (RELAY_OFF_COMMAND, RELAY_ON_COMMAND, None)
_IVY = (IVY_RELAY_OFF_COMMAND, IVY_RELAY_ON_COMMAND, IVY_FPORT)
# The portal's two names, and relaylink's own profile names and aliases for the same meters.
_IVY_TYPES = frozenset({"ivy_em114", "ivy_em114039", "em114039"})
_EASTRON_TYPES = frozenset({"eastron_sdm", "eastron_sdm320c", "sdm320c"})
_warned_types: "set[str]" = set()


def _relay_frames(device_type: Any) -> Tuple[bytes, bytes, Optional[int]]:
    """As the portal's own module: every type but the IVY's is the Eastron SDM320C on the pass-through
    port (its meters' ``lorawan_device_type`` is free text: None, "sdm", "milesight_em300"…). A type
    neither module knows is said once, as a warning."""
    if isinstance(device_type, str) and device_type in _IVY_TYPES:
        return _IVY
    _say_unknown_once(device_type)
    return _EASTRON


def _say_unknown_once(device_type: Any) -> None:
    """A type neither the portal's module nor relaylink's knows is taken for an Eastron: said once per type."""
    if device_type is None or device_type in _EASTRON_TYPES:
        return
    shown = repr(device_type)[:60]
    with _lock:
        first = shown not in _warned_types and len(_warned_types) < 1000
        if first:
            _warned_types.add(shown)
    if first:
        logger.warning("device_type %s is not a known meter type: sending the Eastron SDM320C relay frame on the "
                       "pass-through port, as the portal's own module does (said once for this type)", shown)


def send_relay_command(device_eui: str, action: str, device_type: Optional[str] = "eastron_sdm") -> Tuple[bool, str]:
    """Relay ``"on"`` (restore power) or ``"off"`` (disconnect): the IVY EM114039's frame on fPort 10 for
    ``"ivy_em114"``, else — any other type, None included, as the portal's own module does — the Eastron
    SDM320C's (via a UC100) on the pass-through port."""
    if action not in ("on", "off"):
        return False, f"Invalid action: {action}. Must be 'on' or 'off'"
    off, on, port = _relay_frames(device_type)
    logger.info("Sending relay %s command to %s (%s)", action.upper(), device_eui, device_type)
    return send_downlink(device_eui, off if action == "off" else on, port=port)


def get_device_queue(device_eui: str) -> Tuple[bool, Any]:
    """The device's downlink queue (ChirpStack's ``result`` list)."""
    return _listing(_path("devices", device_eui, "queue"))


# =============================================================================
# APPLICATIONS
# =============================================================================

def list_applications(limit: int = 100) -> Tuple[bool, Any]:
    return _listing("/api/applications", _tenant_params(limit))


def get_application(application_id: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("applications", application_id))


def create_application(name: str, description: str = "") -> Tuple[bool, Any]:
    config = get_config()
    if not config["api_key"]:
        return False, _NO_KEY
    if not config.get("tenant_id"):
        return False, _NO_TENANT
    body = {"application": {"name": name, "description": description, "tenantId": config["tenant_id"]}}
    logger.info("Creating application %s in ChirpStack", name)
    return _make_request("POST", "/api/applications", json_data=body)


def update_application(application_id: str, name: str, description: str = "") -> Tuple[bool, Any]:
    config = get_config()
    body = {"application": {"id": application_id, "name": name, "description": description,
                            "tenantId": config.get("tenant_id", "")}}
    return _make_request("PUT", _path("applications", application_id), json_data=body)


def delete_application(application_id: str) -> Tuple[bool, str]:
    return _delete("Application", _path("applications", application_id), application_id)


# =============================================================================
# DEVICE PROFILES
# =============================================================================

def list_device_profiles(limit: int = 100) -> Tuple[bool, Any]:
    return _listing("/api/device-profiles", _tenant_params(limit))


def get_device_profile(device_profile_id: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("device-profiles", device_profile_id))


# =============================================================================
# DEVICES
# =============================================================================

def list_devices(application_id: Optional[str] = None, limit: int = 100, offset: int = 0) -> Tuple[bool, Any]:
    """Devices of one application, or (without ``application_id``) of every application."""
    if not application_id:
        success, applications = list_applications(limit=100)
        if not success:
            return False, applications
        all_devices: List[Any] = []
        for app in applications:
            app_id = app.get("id")
            if app_id:
                ok, devices = _listing("/api/devices", {"limit": limit, "offset": offset, "applicationId": app_id})
                if ok:
                    all_devices.extend(devices)
        return True, all_devices
    return _listing("/api/devices", {"limit": limit, "offset": offset, "applicationId": application_id})


def get_device(device_eui: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("devices", device_eui))


def create_device(device_eui: str, name: str, application_id: str, device_profile_id: str,
                  description: str = "", skip_fcnt_check: bool = False, is_disabled: bool = False,
                  join_eui: Optional[str] = None) -> Tuple[bool, Any]:
    device: Dict[str, Any] = {
        "devEui": str(device_eui).lower(),
        "name": name,
        "applicationId": application_id,
        "deviceProfileId": device_profile_id,
        "description": description or name,
        "skipFcntCheck": skip_fcnt_check,
        "isDisabled": is_disabled,
    }
    if join_eui:
        device["joinEui"] = str(join_eui).lower()
    logger.info("Creating device %s in ChirpStack", device_eui)
    success, result = _make_request("POST", "/api/devices", json_data={"device": device})
    if success:
        logger.info("Device %s created successfully in ChirpStack", device_eui)
        return True, result
    logger.error("Failed to create device %s: %s", device_eui, result)
    return False, result


def update_device(device_eui: str, name: Optional[str] = None, description: Optional[str] = None,
                  is_disabled: Optional[bool] = None, skip_fcnt_check: Optional[bool] = None) -> Tuple[bool, Any]:
    """Read the device, change only the fields given, write it back."""
    if not get_config()["api_key"]:
        return False, _NO_KEY
    success, current = get_device(device_eui)
    if not success:
        return False, f"Device not found: {current}"
    device = _set_given(dict(current.get("device", {})), name=name, description=description, isDisabled=is_disabled,
                        skipFcntCheck=skip_fcnt_check)
    return _make_request("PUT", _path("devices", device_eui), json_data={"device": device})


def delete_device(device_eui: str) -> Tuple[bool, str]:
    return _delete("Device", _path("devices", device_eui), device_eui)


def set_device_keys(device_eui: str, app_key: str, nwk_key: Optional[str] = None) -> Tuple[bool, Any]:
    """OTAA keys (``nwk_key`` defaults to ``app_key``), lower-cased."""
    body = {"deviceKeys": {"devEui": str(device_eui).lower(),
                           "nwkKey": str(nwk_key or app_key).lower(),
                           "appKey": str(app_key).lower()}}
    logger.info("Setting OTAA keys for device %s", device_eui)
    return _make_request("POST", _path("devices", device_eui, "keys"), json_data=body)


def get_device_keys(device_eui: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("devices", device_eui, "keys"))


# =============================================================================
# GATEWAYS
# =============================================================================

def list_gateways(limit: int = 100, offset: int = 0, tenant_id: Optional[str] = None) -> Tuple[bool, Any]:
    params: Dict[str, Any] = {"limit": limit, "offset": offset}
    if tenant_id:
        params["tenantId"] = tenant_id
    return _listing("/api/gateways", params)


def get_gateway(gateway_id: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("gateways", gateway_id))


def create_gateway(gateway_id: str, name: str, tenant_id: str, description: str = "",
                   location_latitude: Optional[float] = None, location_longitude: Optional[float] = None,
                   location_altitude: Optional[float] = None, stats_interval_secs: int = 30) -> Tuple[bool, Any]:
    gateway: Dict[str, Any] = {
        "gatewayId": str(gateway_id).lower(),
        "name": name,
        "tenantId": tenant_id,
        "description": description or name,
        "statsInterval": stats_interval_secs,
    }
    if location_latitude is not None and location_longitude is not None:
        gateway["location"] = {"latitude": location_latitude, "longitude": location_longitude,
                               "altitude": location_altitude or 0}
    logger.info("Creating gateway %s in ChirpStack", gateway_id)
    success, result = _make_request("POST", "/api/gateways", json_data={"gateway": gateway})
    if success:
        logger.info("Gateway %s created successfully in ChirpStack", gateway_id)
        return True, result
    logger.error("Failed to create gateway %s: %s", gateway_id, result)
    return False, result


def update_gateway(gateway_id: str, name: Optional[str] = None, description: Optional[str] = None,
                   location_latitude: Optional[float] = None, location_longitude: Optional[float] = None,
                   location_altitude: Optional[float] = None) -> Tuple[bool, Any]:
    if not get_config()["api_key"]:
        return False, _NO_KEY
    success, current = get_gateway(gateway_id)
    if not success:
        return False, f"Gateway not found: {current}"
    gateway = _set_given(dict(current.get("gateway", {})), name=name, description=description)
    if any(x is not None for x in (location_latitude, location_longitude, location_altitude)):
        gateway["location"] = _set_given(dict(gateway.get("location") or {}), latitude=location_latitude,
                                         longitude=location_longitude, altitude=location_altitude)
    return _make_request("PUT", _path("gateways", gateway_id), json_data={"gateway": gateway})


def delete_gateway(gateway_id: str) -> Tuple[bool, str]:
    return _delete("Gateway", _path("gateways", gateway_id), gateway_id)


# =============================================================================
# TENANTS
# =============================================================================

def list_tenants(limit: int = 100) -> Tuple[bool, Any]:
    return _listing("/api/tenants", {"limit": limit})


def get_tenant(tenant_id: str) -> Tuple[bool, Any]:
    return _make_request("GET", _path("tenants", tenant_id))


# =============================================================================
# UTILITIES
# =============================================================================

def test_connection() -> Tuple[bool, str]:
    """List one application: ``(True, "ChirpStack connection successful")`` when ChirpStack answers."""
    if not get_config()["api_key"]:
        return False, _NO_KEY
    success, result = list_applications(limit=1)
    if success:
        return True, "ChirpStack connection successful"
    return False, f"ChirpStack connection failed: {result}"


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


def get_device_with_status(device_eui: str) -> Tuple[bool, Any]:
    """The device with ``lastSeenAt``, ``deviceStatus`` and ``classEnabled`` (default ``"CLASS_A"``)."""
    success, result = get_device(device_eui)
    if not success:
        return False, result
    return True, {
        "device": result.get("device", {}),
        "lastSeenAt": result.get("lastSeenAt"),
        "deviceStatus": result.get("deviceStatus", {}),
        "classEnabled": result.get("classEnabled", "CLASS_A"),
    }
