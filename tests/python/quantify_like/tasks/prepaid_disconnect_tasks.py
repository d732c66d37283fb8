"""The portal's task module imports send_relay_command from the module's file; and relaylink's tasks, for a
Celery worker that never calls create_app() (docs/portal-integration.md, step 6: one line)."""
from __future__ import annotations

from celery import shared_task

from relaylink.flask import RelayLink

from ..config import Config

relay = RelayLink.from_config(Config)  # the one line: nothing starts until a task uses relay.service


@shared_task
def send_relay_command_task(device_eui: str, action: str, device_type: str = "eastron_sdm"):
    from ..services.chirpstack_service import send_relay_command
    return list(send_relay_command(device_eui, action, device_type=device_type))


@shared_task
def disconnect_meter(meter_id: int, device_eui: str, device_type: str = "eastron_sdm", reason: str = "zero balance"):
    from relaylink.flask import portal_profile
    c = relay.service.disconnect(device_eui, profile=portal_profile(device_type), meter_id=meter_id, meter_ref=str(meter_id),
                                 actor="celery", reason=reason, idempotency_key=f"zero-balance-{meter_id}")
    return {"command_id": c.id, "state": c.state, "portal_row_id": c.portal_row_id}
