"""What residents are told when their power is cut or restored, through a pluggable sender.

The :class:`Notifier` subscribes to relaylink's command changes. When a relay command is confirmed
(the meter itself reported the relay's new state) it writes the message for the meter's resident and
hands it to the sender on a worker thread of its own, so a slow SMS gateway never holds relaylink's
thread. Each (command, event) is told once, even if the change is seen twice (a restart, two
notifiers): the claim is a row in ``notified`` inserted before sending.

A sender is anything with ``send(notification)``; :class:`TableSender` writes to the ``notifications``
table the portal shows. An SMS or e-mail sender raises on failure: the failure is logged and kept
with the claim (``notified.error``), never retried blindly (a resident told twice is worse).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from .db import PortalDB, utc_now

log = logging.getLogger("portal.notify")


@dataclass(frozen=True)
class Notification:
    meter_id: Optional[int]
    resident: str
    phone: str
    event: str          # "power_cut" or "power_restored"
    message: str
    command_id: int
    channel: str = "sms"


class Sender(Protocol):
    def send(self, n: Notification) -> None: ...


class TableSender:
    """The example's sender: the message goes into the ``notifications`` table."""

    def __init__(self, db: PortalDB) -> None:
        self.db = db

    def send(self, n: Notification) -> None:
        with self.db.tx() as c:
            c.execute("INSERT INTO notifications (meter_id, resident, phone, channel, event, message, command_id, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (n.meter_id, n.resident, n.phone, n.channel, n.event, n.message, n.command_id, utc_now()))


def message_for(event: str, unit: str, at: str, balance_cents: int) -> str:
    """What the resident is told. Never the operator's free-text reason (it is written for colleagues, and may
    name people or debts); a request to pay only when the balance is not in credit."""
    if event == "power_cut":
        if balance_cents <= 0:
            return (f"Your electricity supply at {unit} was disconnected at {at}: your prepaid balance is used up. "
                    f"Top up and power is restored automatically.")
        return (f"Your electricity supply at {unit} was disconnected at {at}. Your balance is in credit: "
                f"contact the estate office to know why.")
    return f"Your electricity supply at {unit} was restored at {at}."


class Notifier:
    def __init__(self, db: PortalDB, sender: Sender, format_time: Callable[[Optional[datetime]], str]) -> None:
        self.db = db
        self.sender = sender
        self.format_time = format_time
        self._q: "queue.Queue[Optional[Notification]]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="portal-notifier", daemon=True)
        self._thread.start()
        self.sent = 0
        self.failed = 0

    def on_change(self, change: Any) -> None:
        """relaylink subscriber (runs on relaylink's thread): decide, claim, queue. Never raises."""
        try:
            c = change.command
            if change.to_state != "confirmed" or c.kind not in ("relay_off", "relay_on"):
                return
            event = "power_cut" if c.kind == "relay_off" else "power_restored"
            m = self.db.meter(c.meter_ref) if c.meter_ref else None
            if m is None or (m["device_eui"] or "") != c.dev_eui:
                m = self.db.meter_by_eui(c.dev_eui)
            if m is None or not m["phone"]:
                return
            with self.db.tx() as tx:
                claimed = tx.execute("INSERT OR IGNORE INTO notified (command_id, event) VALUES (?, ?)", (c.id, event)).rowcount
            if not claimed:
                return
            at = self.format_time(c.completed_at or c.updated_at)
            self._q.put(Notification(meter_id=m["id"], resident=m["resident"], phone=m["phone"], event=event,
                                     message=message_for(event, m["unit"], at, int(m["balance_cents"] or 0)), command_id=c.id))
        except Exception:
            log.exception("notification for a command change not prepared")

    def _run(self) -> None:
        while True:
            n = self._q.get()
            try:
                if n is None:
                    return
                try:
                    self.sender.send(n)
                    self.sent += 1
                except Exception as e:  # the sender's failure is kept with the claim and logged
                    self.failed += 1
                    log.error("notification for command %d not sent: %s", n.command_id, e)
                    with self.db.tx() as tx:
                        tx.execute("UPDATE notified SET error = ? WHERE command_id = ? AND event = ?",
                                   (str(e)[:500], n.command_id, n.event))
            finally:
                self._q.task_done()

    def drain(self) -> None:
        """Wait until everything queued so far was handed to the sender (tests)."""
        self._q.join()

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)
