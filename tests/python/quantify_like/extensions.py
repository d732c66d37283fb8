"""The app's extensions, made at import and bound in create_app() (Flask's pattern)."""
from __future__ import annotations

from flask_login import LoginManager, login_required

from relaylink.flask import RelayLink

from .db import db
from .utils.audit import log_action
from .utils.decorators import requires_permission

login_manager = LoginManager()


def find_meter(meter_id: str):
    """The portal's own lookup: device EUI, then serial number, then (all digits) the id."""
    from .models import Meter
    meter = Meter.query.filter_by(device_eui=meter_id).first()
    if meter is None:
        meter = Meter.query.filter_by(serial_number=meter_id).first()
    if meter is None and meter_id.isdigit():
        meter = db.session.get(Meter, int(meter_id))
    return meter


# docs/portal-integration.md, step 2: the portal's decorators and helpers, nothing of relaylink's own.
relay = RelayLink(find_meter=find_meter, decorators=[login_required, requires_permission("meters.edit")],
                  audit=log_action)
