"""The portal's own tables (users, meters, payments, audit log, notifications, bulk runs) in SQLite.

relaylink keeps the commands and their audit trail in its own store; these are the portal's records,
as its PostgreSQL tables would be. One connection per thread (Flask serves requests on many threads,
and relaylink's notifications arrive on its own), WAL so readers do not wait for writers.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS meters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    resident TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    device_eui TEXT UNIQUE,
    device_type TEXT NOT NULL,
    balance_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,
    meter_id INTEGER NOT NULL REFERENCES meters(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reference TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reconnect_command_id INTEGER
);
CREATE TABLE IF NOT EXISTS audit_logs (
    id INTEGER PRIMARY KEY,
    user_id INTEGER,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT,
    entity_id TEXT,
    old_values TEXT,
    new_values TEXT,
    ip_address TEXT,
    user_agent TEXT,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_logs_by_entity ON audit_logs(entity_type, entity_id);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    meter_id INTEGER,
    resident TEXT NOT NULL,
    phone TEXT NOT NULL,
    channel TEXT NOT NULL,
    event TEXT NOT NULL,
    message TEXT NOT NULL,
    command_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notified (
    command_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (command_id, event)
);
CREATE TABLE IF NOT EXISTS bulk_runs (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bulk_items (
    run_id INTEGER NOT NULL REFERENCES bulk_runs(id),
    meter_id INTEGER,
    device_eui TEXT NOT NULL,
    command_id INTEGER,
    problem TEXT,                 -- refused before sending (safety guard), with the reason
    outcome TEXT,                 -- the command's final state, once it has one
    detail TEXT,
    PRIMARY KEY (run_id, device_eui)
);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PortalDB:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self.conn().executescript(SCHEMA)

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA foreign_keys=ON")
            self._local.conn = c
        return c

    def tx(self) -> "_Tx":
        return _Tx(self.conn())

    def all(self, sql: str, args: Iterable[Any] = ()) -> List[sqlite3.Row]:
        return self.conn().execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Iterable[Any] = ()) -> Optional[sqlite3.Row]:
        row: Optional[sqlite3.Row] = self.conn().execute(sql, tuple(args)).fetchone()
        return row

    # --- the records the pages use ---------------------------------------------------------------

    def user(self, username: str) -> Optional[sqlite3.Row]:
        return self.one("SELECT * FROM users WHERE username = ?", (username,))

    def user_by_id(self, user_id: int) -> Optional[sqlite3.Row]:
        return self.one("SELECT * FROM users WHERE id = ?", (user_id,))

    def add_user(self, username: str, password_hash: str, role: str) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
                      (username, password_hash, role, utc_now()))

    # --- sessions: a log-out ends one here, whatever copy of its cookie is still around -----------

    def start_session(self, sid: str, user_id: int) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO sessions (sid, user_id, created_at) VALUES (?, ?, ?)", (sid, user_id, utc_now()))
            # Sessions ended more than a day ago are forgotten: the table stays small.
            c.execute("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?",
                      ((datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds"),))

    def session_live(self, sid: str, user_id: int) -> bool:
        return self.one("SELECT 1 FROM sessions WHERE sid = ? AND user_id = ? AND ended_at IS NULL", (sid, user_id)) is not None

    def end_session(self, sid: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE sessions SET ended_at = ? WHERE sid = ? AND ended_at IS NULL", (utc_now(), sid))

    def meter(self, meter_id: Any) -> Optional[sqlite3.Row]:
        try:
            mid = int(meter_id)
        except (TypeError, ValueError):
            return None
        if not 0 < mid < 2**63:  # no row has such an id (and SQLite's integers stop at 2**63 - 1)
            return None
        return self.one("SELECT * FROM meters WHERE id = ?", (mid,))

    def meter_by_eui(self, dev_eui: str) -> Optional[sqlite3.Row]:
        return self.one("SELECT * FROM meters WHERE device_eui = ?", (dev_eui.upper(),))

    def meters(self) -> List[sqlite3.Row]:
        return self.all("SELECT * FROM meters ORDER BY id")

    def add_meter(self, name: str, unit: str, resident: str, phone: str, device_eui: Optional[str], device_type: str,
                  balance_cents: int) -> int:
        with self.tx() as c:
            cur = c.execute("INSERT INTO meters (name, unit, resident, phone, device_eui, device_type, balance_cents) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (name, unit, resident, phone, device_eui.upper() if device_eui else None, device_type, balance_cents))
            return int(cur.lastrowid or 0)

    def log(self, *, user_id: Optional[int], username: str, action: str, entity_type: Optional[str], entity_id: Optional[str],
            old_values: Optional[Dict[str, Any]], new_values: Optional[Dict[str, Any]], ip_address: str = "",
            user_agent: str = "", request_id: str = "") -> None:
        with self.tx() as c:
            c.execute("INSERT INTO audit_logs (user_id, username, action, entity_type, entity_id, old_values, new_values, "
                      "ip_address, user_agent, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (user_id, username, action, entity_type, entity_id,
                       json.dumps(old_values) if old_values is not None else None,
                       json.dumps(new_values, default=str) if new_values is not None else None,
                       ip_address, user_agent[:300], request_id, utc_now()))


class _Tx:
    """`with db.tx() as c:` — BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    def __enter__(self) -> sqlite3.Connection:
        self.c.execute("BEGIN IMMEDIATE")
        return self.c

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.c.execute("ROLLBACK" if exc_type else "COMMIT")
