"""relaylink: disconnect and reconnect electricity meters over LoRaWAN (ChirpStack v4), and know
for certain what happened to every command.

The compiled core (``relaylink._core``, C++) does the work; this package is a thin Python face:

- :mod:`relaylink.modbus`: Modbus RTU frames (CRC, encoders, reply decoding).
- :mod:`relaylink.profiles`: meter profiles (Eastron SDM320C via a Milesight UC100, IVY EM114039, JSON).
- :class:`ChirpStackClient`: the ChirpStack v4 REST client (blocking calls release the GIL; ``*_async``
  twins are awaitable).
- :func:`parse_event`: ChirpStack's integration events.
- :class:`RelayService`: commands with a lifecycle and an audit trail, in SQLite.
- :class:`Simulator`: ChirpStack and simulated meters on one machine.
- :mod:`relaylink.chirpstack_service`: a drop-in for the portal's module of that name.
- :mod:`relaylink.flask`: a Flask blueprint for relay control.

Logs go to the ``relaylink`` logger (:mod:`logging`).
"""
from __future__ import annotations

import asyncio
import datetime
import os
import typing
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Union

from . import _core
from ._errors import (
    ChirpStackError,
    ConfigError,
    EventError,
    ModbusError,
    ProfileError,
    RelaylinkError,
    RequestError,
    StoreError,
    WaitTimeout,
)
from . import modbus, profiles

__version__: str = _core.__version__

AuditEvent = _core.AuditEvent
Command = _core.Command
CommandChange = _core.CommandChange
Meter = _core.Meter
MeterChange = _core.MeterChange
EventSource = _core.EventSource
QueueItem = _core.QueueItem
Device = _core.Device
DeviceInfo = _core.DeviceInfo
UpEvent = _core.UpEvent
AckEvent = _core.AckEvent
TxAckEvent = _core.TxAckEvent
LogEvent = _core.LogEvent
StatusEvent = _core.StatusEvent
JoinEvent = _core.JoinEvent
LocationEvent = _core.LocationEvent
UnknownEvent = _core.UnknownEvent
Simulator = _core.Simulator
normalize_dev_eui = _core.normalize_dev_eui

Event = Union[UpEvent, AckEvent, TxAckEvent, LogEvent, StatusEvent, JoinEvent, LocationEvent, UnknownEvent]

#: The states a command can be in, in lifecycle order; the last five are terminal.
STATES = ("pending", "dispatching", "queued", "sent", "acknowledged",
          "confirmed", "failed", "expired", "cancelled", "superseded")
TERMINAL_STATES = frozenset(STATES[5:])


def parse_event(event_type: str, payload: Union[str, bytes]) -> Event:
    """Read one ChirpStack event: its type (``"up"``, ``"ack"``, ``"txack"``, ``"log"``, ``"status"``,
    ``"join"``, ``"location"``; others give :class:`UnknownEvent`) and its JSON payload.
    Raises :class:`EventError` naming the field that is wrong."""
    return _core.parse_event(event_type, payload)


def _client_settings(config: Mapping[str, Any]) -> Dict[str, Any]:
    """ChirpStackClient's settings from the portal's keys (``CHIRPSTACK_API_URL``, ``_API_KEY``, ``_TENANT_ID``,
    ``_PASSTHROUGH_PORT``) in the environment or a Flask ``app.config``; a bad port raises ConfigError naming it."""
    kw: Dict[str, Any] = {}
    if config.get("CHIRPSTACK_API_URL"):
        kw["url"] = config["CHIRPSTACK_API_URL"]
    if config.get("CHIRPSTACK_API_KEY") is not None:
        kw["api_key"] = config["CHIRPSTACK_API_KEY"]
    if config.get("CHIRPSTACK_TENANT_ID"):
        kw["tenant_id"] = config["CHIRPSTACK_TENANT_ID"]
    port = config.get("CHIRPSTACK_PASSTHROUGH_PORT")
    if port not in (None, ""):
        try:
            n = -1 if isinstance(port, bool) else int(port)
        except (TypeError, ValueError):
            n = -1
        if not 1 <= n <= 223:
            raise ConfigError(f"CHIRPSTACK_PASSTHROUGH_PORT must be an fPort 1-223, got {port!r}",
                              field="CHIRPSTACK_PASSTHROUGH_PORT")
        kw["passthrough_port"] = n
    return kw


class ChirpStackClient(_core.ChirpStackClient):
    """ChirpStack v4 REST client. Keyword arguments only; see ``docs/python.md``.

    >>> client = ChirpStackClient(url="http://localhost:8090", api_key=os.environ["CHIRPSTACK_API_KEY"])
    >>> client.enqueue("0102030405060708", bytes.fromhex("010500000000CDCA"), confirmed=True)
    """

    @classmethod
    def from_env(cls, **overrides: Any) -> "ChirpStackClient":
        """A client configured from ``CHIRPSTACK_API_URL``, ``CHIRPSTACK_API_KEY``, ``CHIRPSTACK_TENANT_ID``
        and ``CHIRPSTACK_PASSTHROUGH_PORT`` (keyword arguments override them). A bad value raises
        :class:`ConfigError` naming the variable, and so does a missing or empty key."""
        kw = _client_settings(os.environ)
        kw.update(overrides)
        if not kw.get("api_key"):
            raise ConfigError("CHIRPSTACK_API_KEY is not set: from_env() reads CHIRPSTACK_API_URL (default "
                              "http://localhost:8090), CHIRPSTACK_API_KEY (an API key from ChirpStack's web UI, API keys), "
                              "CHIRPSTACK_TENANT_ID and CHIRPSTACK_PASSTHROUGH_PORT (default 5); or pass api_key=",
                              field="CHIRPSTACK_API_KEY")
        try:
            return cls(**kw)
        except ConfigError as e:
            if getattr(e, "field", "") == "url" and "url" not in overrides and "url" in kw:
                raise ConfigError(f"CHIRPSTACK_API_URL: {e}", field="CHIRPSTACK_API_URL") from None
            raise

    @classmethod
    def for_simulator(cls, sim: "Simulator", **overrides: Any) -> "ChirpStackClient":
        """A client for a :class:`Simulator`'s REST API."""
        return cls(url=sim.url, api_key=sim.api_key, **overrides)

    def __enter__(self) -> "ChirpStackClient":  # typed as this class: `with … as client` feeds RelayService
        super().__enter__()
        return self


class RelayService(_core.RelayService):
    """Relay commands with a lifecycle (pending → queued → sent → acknowledged → confirmed, or failed /
    expired / cancelled / superseded), retries, expiry, cancellation, idempotency, a safety guard for
    disconnects and an audit trail, in a SQLite file (``db``: a path), a PostgreSQL schema (``db``:
    ``"postgresql://user@host/dbname"``, settings in ``postgres={"schema": …, "pool_size": …, "sslmode": …}``)
    or memory (``":memory:"``). Several processes may share one store: each claims what it sends
    (owner ``instance``, default ``host:pid``; lease ``claim_timeout`` seconds), see ``docs/processes.md``.

    ``client``: a :class:`ChirpStackClient`. With ``simulator=``, the service takes the simulator's
    clock and its events in-process (no broker needed). ``profiles``: a :class:`profiles.ProfileRegistry`,
    or profiles to add to the built-ins. ``safety``: a dict (see ``docs/python.md``).

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, client: ChirpStackClient, *, db: str = "relaylink.db",
                 profiles: Union[None, "profiles.ProfileRegistry", Iterable["profiles.Profile"]] = None,
                 safety: Optional[Dict[str, Any]] = None, simulator: Optional[Simulator] = None, **settings: Any) -> None:
        registry = None
        if profiles is not None:
            if isinstance(profiles, _core.ProfileRegistry):
                registry = profiles
            else:
                registry = _core.ProfileRegistry()
                for p in profiles:
                    registry.add(p)
        elif globals()["profiles"].default_registry() is not None:
            registry = globals()["profiles"].default_registry()
        if not isinstance(client, _core.ChirpStackClient):
            raise TypeError(f"client must be a relaylink.ChirpStackClient, got {type(client).__name__}")
        super().__init__(client, db=db, profiles=registry, safety=dict(safety or {}), simulator=simulator, **settings)

    def wait(self, command_id: "typing.SupportsInt | typing.SupportsIndex", *, states: Optional[Sequence[str]] = None,
             timeout: "float | datetime.timedelta" = 60.0, raise_on_timeout: bool = True) -> Command:
        """Block (without the GIL) until the command reaches one of ``states`` (default: any terminal state)
        and return it. When ``timeout`` seconds pass first: :class:`WaitTimeout` (a ``TimeoutError``) with
        the command as it is in ``.command`` — or, with ``raise_on_timeout=False``, that command returned."""
        want = _wanted(states)
        c = super().wait(command_id, states=list(states) if states else None, timeout=timeout)
        return _reached(c, want, timeout, raise_on_timeout)

    # ---- asyncio ----------------------------------------------------------------------------
    # The service's calls are short (a SQLite transaction): the async twins run them in the loop's
    # default executor, where they release the GIL. Waiting is event-driven (a subscription).

    async def disconnect_async(self, dev_eui: str, **kw: Any) -> Command:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.disconnect(dev_eui, **kw))

    async def reconnect_async(self, dev_eui: str, **kw: Any) -> Command:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.reconnect(dev_eui, **kw))

    async def send_async(self, dev_eui: str, kind: str, **kw: Any) -> Command:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.send(dev_eui, kind, **kw))

    async def cancel_async(self, command_id: int, **kw: Any) -> Optional[Command]:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.cancel(command_id, **kw))

    async def command_async(self, command_id: int) -> Optional[Command]:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.command(command_id))

    async def wait_async(self, command_id: int, *, states: Optional[Sequence[str]] = None,
                         timeout: float = 60.0, raise_on_timeout: bool = True) -> Command:
        """Await the command reaching one of ``states`` (default: any terminal state); on timeout,
        :class:`WaitTimeout` (or, with ``raise_on_timeout=False``, the command as it is), like :meth:`wait`."""
        want = _wanted(states)
        loop = asyncio.get_running_loop()
        reached = loop.create_future()

        def on_change(change: CommandChange) -> None:
            if change.command.id == command_id and change.to_state in want:
                loop.call_soon_threadsafe(_settle, reached)

        token = self.subscribe(on_change)
        try:
            current = await self.command_async(command_id)
            if current is None:
                raise ValueError(f"no command {command_id}")
            if current.state not in want:
                try:
                    await asyncio.wait_for(reached, timeout)
                except asyncio.TimeoutError:
                    pass
            result = await self.command_async(command_id)
            assert result is not None
            return _reached(result, want, timeout, raise_on_timeout)
        finally:
            self.unsubscribe(token)


def _wanted(states: Optional[Sequence[str]]) -> "frozenset[str]":
    want = frozenset(states) if states else TERMINAL_STATES
    for s in want:
        if s not in STATES:
            raise ValueError(f"unknown command state {s!r}; states: {', '.join(STATES)}")
    return want


def _reached(c: Command, want: "frozenset[str]", timeout: Any, raise_on_timeout: bool) -> Command:
    if c.state in want or not raise_on_timeout:
        return c
    awaited = "a terminal state" if want == TERMINAL_STATES else " or ".join(sorted(want))
    waited = f"{timeout:g} s" if isinstance(timeout, (int, float)) else str(timeout)
    raise WaitTimeout(f"command {c.id} is still {c.state} after {waited} of waiting for {awaited}; it goes on "
                      f"without the wait (wait again, or follow it with command({c.id}))", command=c, states=sorted(want))


def _settle(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


__all__ = [
    "__version__", "modbus", "profiles", "parse_event", "normalize_dev_eui",
    "ChirpStackClient", "RelayService", "Simulator",
    "Command", "AuditEvent", "Meter", "CommandChange", "MeterChange", "EventSource", "QueueItem", "Device",
    "DeviceInfo", "Event", "UpEvent", "AckEvent", "TxAckEvent", "LogEvent", "StatusEvent", "JoinEvent",
    "LocationEvent", "UnknownEvent", "STATES", "TERMINAL_STATES",
    "RelaylinkError", "ChirpStackError", "ConfigError", "EventError", "ModbusError", "ProfileError",
    "RequestError", "StoreError", "WaitTimeout",
]
