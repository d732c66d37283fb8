"""The portal's module that holds its relaylink service, one per process (docs/deploying.md).

A `RelayService` (its ChirpStack client, its store connections, its threads) must be made in the process
that uses it, never before a fork: gunicorn's `post_fork` (gunicorn.conf.py) and Celery's
`worker_process_init` (tasks.py) call `start()`, and their exit hooks call `stop()`. Everything else reads
`relay.service`.

Configuration from the environment, like the portal's own:

    RELAYLINK_DB             postgresql://user@host/portal (the portal's database) or a SQLite file path
    RELAYLINK_SCHEMA         PostgreSQL schema for relaylink's tables (default relaylink)
    RELAYLINK_POOL_SIZE      PostgreSQL connections per process (default 2)
    RELAYLINK_CLAIM_TIMEOUT  seconds a claim is leased (default 120)
    RELAYLINK_SAFETY         the safety guard as JSON, e.g. {"time_zone": "Africa/Johannesburg",
                             "window_start": "08:00", "window_end": "16:00"} (default: relaylink's)
    CHIRPSTACK_API_URL, CHIRPSTACK_API_KEY   the ChirpStack REST API (relaylink.ChirpStackClient.from_env)

A bad value raises ValueError naming the variable.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import relaylink

service: Optional[relaylink.RelayService] = None


def _number(name: str, default: str, low: float, high: float) -> float:
    raw = os.environ.get(name, default)
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not low <= v <= high:
        raise ValueError(f"{name} must be {low:g}-{high:g}, got {raw!r}")
    return v


def safety_settings() -> Dict[str, Any]:
    raw = os.environ.get("RELAYLINK_SAFETY", "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"RELAYLINK_SAFETY must be a JSON object: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"RELAYLINK_SAFETY must be a JSON object, got {raw!r}")
    return value


def store_settings() -> Dict[str, Any]:
    """RelayService keyword arguments for the shared store."""
    db = os.environ.get("RELAYLINK_DB", "").strip()
    if not db:
        raise ValueError("RELAYLINK_DB must name the shared store: postgresql://… or a SQLite file path")
    if db.startswith(("postgresql://", "postgres://")):
        return {"db": db, "postgres": {"schema": os.environ.get("RELAYLINK_SCHEMA", "relaylink"),
                                       "pool_size": int(_number("RELAYLINK_POOL_SIZE", "2", 1, 64)),
                                       "application_name": "relaylink-portal"}}
    return {"db": db}


def start(instance: str) -> relaylink.RelayService:
    """Make this process's service (once); `instance` names its claims' owner in the audit trail."""
    global service
    if service is None:
        service = relaylink.RelayService(
            relaylink.ChirpStackClient.from_env(),
            instance=instance,
            claim_timeout=_number("RELAYLINK_CLAIM_TIMEOUT", "120", 1, 86400),
            safety=safety_settings(),
            **store_settings())
    return service


def stop() -> None:
    """Close this process's service: claims it still holds are taken over by the others after their lease."""
    global service
    if service is not None:
        service.close()
        service = None
