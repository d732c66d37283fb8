"""The portal's relay view (POST /api/v1/meters/<meter_id>/relay), as reference/portal.md describes it, on the
drop-in: it imports chirpstack_service inside the view."""
from flask import jsonify, request
from flask_login import login_required

from ...utils.audit import log_action
from ...utils.decorators import requires_permission


def meter_relay_control(meter_id: str):
    from ...services import chirpstack_service
    from ...extensions import find_meter

    meter = find_meter(meter_id)
    if meter is None:
        return jsonify({"error": "Meter not found"}), 404
    if not meter.device_eui:
        return jsonify({"error": "Meter does not have a device EUI configured"}), 400
    data = request.get_json() or {}
    action = data.get("action", "").lower()
    if action not in ("on", "off"):
        return jsonify({"error": "Invalid action. Must be 'on' or 'off'"}), 400
    device_type = getattr(meter, "lorawan_device_type", None) or "eastron_sdm"
    success, message = chirpstack_service.send_relay_command(meter.device_eui, action, device_type=device_type)
    if success:
        log_action(f"meter.relay_{action}", entity_type="meter", entity_id=meter.id,
                   new_values={"device_eui": meter.device_eui, "action": action, "device_type": device_type})
        return jsonify({"success": True, "message": f"Relay {action.upper()} command queued successfully",
                        "device_eui": meter.device_eui, "action": action, "device_type": device_type,
                        "note": "Command will be delivered on next device uplink (Class A)"}), 200
    return jsonify({"success": False, "error": message}), 500


def register_relay_view(app) -> None:
    """The portal's route, decorated as it is: login first, then the permission."""
    view = login_required(requires_permission("meters.edit")(meter_relay_control))
    app.add_url_rule("/api/v1/meters/<meter_id>/relay", "meter_relay_control", view, methods=["POST"])
