"""The portal's web side, reduced to relay control: relaylink's Flask blueprint over `relay.service`,
which each gunicorn worker makes after the fork (gunicorn.conf.py).

    RELAYLINK_DB=… CHIRPSTACK_API_URL=… CHIRPSTACK_API_KEY=… PORTAL_TOKEN=… \\
        gunicorn -c examples/deploy/gunicorn.conf.py --chdir examples/deploy webapp:app

Requests carry `Authorization: Bearer $PORTAL_TOKEN` and `X-Portal-User: <name>` (the portal's own log-in
stands here); a meter id is its DevEUI, and every meter is an SDM320C behind a UC100.
"""
from __future__ import annotations

import hmac
import os
import re
from typing import Any, Dict, Optional

from flask import Flask, abort, request

import relay
import relaylink
from relaylink.flask import MeterTarget, relay_blueprint

TOKEN = os.environ.get("PORTAL_TOKEN", "")
if len(TOKEN) < 16:
    raise ValueError("PORTAL_TOKEN must be set to a secret of at least 16 characters")


def resolve(meter_id: str) -> Optional[MeterTarget]:
    if not re.fullmatch(r"[0-9A-Fa-f]{16}", meter_id):
        return None
    return MeterTarget(dev_eui=meter_id, profile="eastron_sdm", meter_ref=meter_id)


def authorize(permission: str) -> bool:
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {TOKEN}".encode()):
        abort(401)
    return True


def who() -> str:
    return request.headers.get("X-Portal-User", "portal")


def service() -> relaylink.RelayService:
    if relay.service is None:  # imported without gunicorn.conf.py's post_fork
        abort(503, "relaylink is not started in this process")
    return relay.service


app = Flask(__name__)
app.register_blueprint(relay_blueprint(service=service, resolve_meter=resolve, authorize=authorize, actor=who,
                                       reason_required=("off",)), url_prefix="/api/v1")


@app.get("/api/v1/whoami")
def whoami() -> Dict[str, Any]:
    """Which worker answered (for operators, and for the tests)."""
    return {"pid": os.getpid(), "instance": f"web-{os.getpid()}"}
