"""The portal on the embedded simulator: meters, users and a served app in one object (run.py, tests)."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

import relaylink

from . import close_app, create_app

log = logging.getLogger("portal.demo")

# (name, unit, resident, phone, devEui, simulator kind, portal device_type, wiring, balance in cents)
METERS: List[Tuple[str, str, str, str, Optional[str], str, str, str, int]] = [
    ("Flat 1A", "Block A, flat 1", "Thandi Mokoena", "+27 82 555 0101", "0101010101010101", "uc100_sdm320c", "eastron_sdm", "line_side", 0),
    ("Flat 1B", "Block A, flat 2", "Johan Pretorius", "+27 82 555 0102", "0202020202020202", "ivy_em114039", "ivy_em114", "line_side", 23000),
    ("Flat 2A", "Block B, flat 1", "Aisha Patel", "+27 82 555 0201", "0303030303030303", "uc100_sdm320c", "eastron_sdm", "load_side", -1500),
    ("Flat 2B", "Block B, flat 2", "Sipho Dlamini", "+27 82 555 0202", "0404040404040404", "ivy_em114039", "ivy_em114", "line_side", 8000),
    ("Clinic", "Ground floor clinic", "Dr N. Khumalo", "+27 82 555 0001", "0505050505050505", "uc100_sdm320c", "eastron_sdm", "line_side", 0),
    ("Flat 3A", "Block C, flat 1", "Maria Santos", "+27 82 555 0301", "0606060606060606", "uc100_sdm320c", "eastron_sdm", "line_side", 12000),
    ("Store room", "Block C, store", "Caretaker", "", None, "", "eastron_sdm", "", 0),
]
PROTECTED = ["0505050505050505"]  # the clinic: the safety guard refuses to cut it
DEMO_USERS = {"viewer": ("viewer-demo", "viewer"), "operator": ("operator-demo", "operator"), "admin": ("admin-demo", "admin")}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class Demo:
    sim: relaylink.Simulator
    client: relaylink.ChirpStackClient
    service: relaylink.RelayService
    app: Any
    server: Optional[BaseWSGIServer] = None
    thread: Optional[threading.Thread] = None
    closed: bool = False
    extras: Dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{self.server.host}:{self.server.port}"

    def serve(self, host: str = "127.0.0.1", port: int = 0, background: bool = True, log_requests: bool = True) -> None:
        self.server = make_server(host, port, self.app, threaded=True,
                                  request_handler=None if log_requests else _QuietHandler)
        if background:
            self.thread = threading.Thread(target=self.server.serve_forever, name="portal-http", daemon=True)
            self.thread.start()
        else:
            self.server.serve_forever()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.server is not None:
            if self.thread:  # serve_forever runs there: stop it before closing the socket
                self.server.shutdown()
            self.server.server_close()
        close_app(self.app)
        self.service.close()
        self.client.close()
        self.sim.stop()

    def __enter__(self) -> "Demo":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def start(data_dir: str, *, speed: float = 60.0, uplink_interval: float = 300.0, config: Optional[Dict[str, Any]] = None,
          users: Optional[Dict[str, Tuple[str, str]]] = None, safety: Optional[Dict[str, Any]] = None,
          tick: float = 0.2) -> Demo:
    """Simulator with the demo meters, relaylink's service on it, the portal's tables seeded once."""
    os.makedirs(data_dir, exist_ok=True)
    sim = relaylink.Simulator(speed=speed)
    try:
        for name, _unit, _res, _phone, eui, kind, _type, wiring, _bal in METERS:
            if eui:
                sim.add_device(eui, kind=kind, name=name, wiring=wiring, uplink_interval=uplink_interval)
        client = relaylink.ChirpStackClient.for_simulator(sim)
        policy = {"windows": False, "protected_meters": PROTECTED}
        policy.update(safety or {})
        service = relaylink.RelayService(client, db=os.path.join(data_dir, "relaylink.db"), simulator=sim, safety=policy, tick=tick)
    except Exception:
        sim.stop()
        raise
    portal_db = os.path.join(data_dir, "portal.db")
    fresh = not os.path.exists(portal_db)
    app = create_app(service, db_path=portal_db, simulator=sim, config=config, users=users if users is not None else DEMO_USERS)
    if fresh:
        db = app.extensions["portal"].db
        for name, unit, resident, phone, eui, _kind, dtype, _w, balance in METERS:
            mid = db.add_meter(name, unit, resident, phone, eui, dtype, balance)
            if eui:  # relaylink keeps meters only for devices it is told about
                service.track_meter(eui, profile=dtype, meter_ref=str(mid))
    return Demo(sim=sim, client=client, service=service, app=app)
