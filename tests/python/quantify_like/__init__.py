"""A test app built like the operators' portal (QuantifyMeteringSystem), from ../shared/reference/portal.md:
an app factory, Flask-SQLAlchemy, Flask-Login, a ``requires_permission`` decorator walking the role's
nested permissions, ``Meter`` with ``lorawan_device_type``, ``DeviceCommand`` with its CHECK constraints,
``log_action`` with an integer entity id, and the three places that import ``chirpstack_service``.

``create_app(config, relay="drop-in")`` is the portal as it is: its own relay view on relaylink's drop-in.
``relay="extension"`` is the portal after docs/portal-integration.md: its relay view removed, relaylink's
extension serving the route (``relay="both"`` keeps the portal's view too: a route clash, refused;
``relay="none"``: neither, for a test to add relaylink its own way).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from flask import Flask

from .config import Config
from .db import db
from .extensions import login_manager, relay


def create_app(config: Optional[Dict[str, Any]] = None, *, relay_mode: str = "drop-in") -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    app.config.update(config or {})
    db.init_app(app)
    login_manager.init_app(app)

    if relay_mode not in ("drop-in", "extension", "both", "none"):
        raise ValueError(f"relay_mode: drop-in, extension, both or none, not {relay_mode!r}")
    from .routes.v1 import api_v1, auth, lorawan, meters  # noqa: F401  (the routes register on import)
    app.register_blueprint(api_v1, url_prefix="/api/v1")
    if relay_mode in ("drop-in", "both"):
        meters.register_relay_view(app)
    if relay_mode in ("extension", "both"):
        relay.init_app(app)
    with app.app_context():
        db.create_all()
    return app
