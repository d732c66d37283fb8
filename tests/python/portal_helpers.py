"""Shared by the portal's tests (Flask's test client and the browser): the example on a fast simulator."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Dict, Optional

REPO = Path(__file__).resolve().parents[2]
PORTAL_DIR = REPO / "examples" / "flask_portal"
if str(PORTAL_DIR) not in sys.path:
    sys.path.insert(0, str(PORTAL_DIR))

from portal import demo  # noqa: E402

FLAT_1A, FLAT_1B, FLAT_2A, FLAT_2B, CLINIC, FLAT_3A, STORE = range(1, 8)  # portal meter ids, in demo.METERS order
EUI = {i + 1: m[4] for i, m in enumerate(demo.METERS)}
PASSWORDS = {name: pw for name, (pw, _role) in demo.DEMO_USERS.items()}


def start(tmp_path: Path, *, config: Optional[Dict[str, Any]] = None, speed: float = 600, uplink_interval: float = 60,
          **kw: Any) -> "demo.Demo":
    cfg = {"PORTAL_POLL_MS": 250, "PORTAL_PASSWORD_HASH": "pbkdf2:sha256:1000"}  # scrypt costs 0.15 s a hash
    cfg.update(config or {})
    return demo.start(str(tmp_path / "data"), speed=speed, uplink_interval=uplink_interval, config=cfg, tick=0.02, **kw)


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def flashes(html: str) -> list:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", f)).strip().replace("&#39;", "'")
            for f in re.findall(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', html, re.S)]
