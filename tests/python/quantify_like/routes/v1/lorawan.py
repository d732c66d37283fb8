"""The LoRaWAN admin API: imports the module at module level, as the portal's app/routes/v1/lorawan.py does."""
from flask import jsonify
from flask_login import login_required

from . import api_v1
from ...services import chirpstack_service
from ...utils.decorators import requires_permission


@api_v1.get("/lorawan/test-connection")
@login_required
@requires_permission("meters.view")
def test_connection():
    ok, message = chirpstack_service.test_connection()
    return jsonify({"success": ok, "message" if ok else "error": message}), 200 if ok else 500
