"""relaylink's exceptions, and two helpers the compiled module calls back into.

Every exception relaylink raises derives from :class:`RelaylinkError`; the ones about a bad value
also derive from :class:`ValueError`, so ``except ValueError`` keeps working in code that expects it.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

_log = logging.getLogger("relaylink")


class RelaylinkError(Exception):
    """Base of every relaylink error."""

    def __init__(self, message: str, **attrs: Any) -> None:
        super().__init__(message)
        self.message = message
        for k, v in attrs.items():
            setattr(self, k, v)

    def __str__(self) -> str:
        return self.message


class ModbusError(RelaylinkError, ValueError):
    """A frame could not be encoded or decoded. ``code`` names the reason (``"crc_mismatch"``...)."""

    code: str


class ProfileError(RelaylinkError, ValueError):
    """A device profile was refused. ``field`` is the path of the culprit (``"relay_off.function"``)."""

    field: str


class EventError(RelaylinkError, ValueError):
    """A ChirpStack event could not be read. ``field`` names the culprit (``"deviceInfo.devEui"``)."""

    field: str


class ConfigError(RelaylinkError, ValueError):
    """A setting is wrong. ``field`` names it."""

    field: str


class RequestError(RelaylinkError, ValueError):
    """The relay service cannot accept a request as given. ``field`` names the culprit."""

    field: str


class WaitTimeout(RelaylinkError, TimeoutError):
    """:meth:`RelayService.wait` reached its timeout before the command reached the states it waited for.
    ``command`` is the command as it is (it goes on: wait again, or follow it); ``states`` what was awaited."""

    command: Any
    states: Any


class StoreError(RelaylinkError):
    """The command store could not do what was asked (a corrupt file, a newer schema...)."""


class ChirpStackError(RelaylinkError):
    """A ChirpStack call failed.

    ``code``: relaylink's name for it (``"not_found"``, ``"unauthenticated"``, ``"timeout"``,
    ``"connection_refused"``, ``"invalid_dev_eui"``...); ``http_status`` (0 when no answer came);
    ``grpc_code`` (-1 when absent); ``request_sent`` (the request may have reached ChirpStack:
    matters for an enqueue); ``attempts``; ``transient`` (worth trying again later);
    ``server_message`` (True when ``detail`` is ChirpStack's own message, from the response body);
    ``detail`` (the message without the ``"ChirpStack HTTP <status>: "`` prefix).
    """

    code: str
    http_status: int
    grpc_code: int
    request_sent: bool
    attempts: int
    transient: bool
    server_message: bool
    detail: str


def log_callback_error(what: str, exc: Optional[BaseException]) -> None:
    """A Python callback called from relaylink's threads raised: log it with its traceback."""
    if exc is None:
        _log.error("%s raised", what)
        return
    _log.error("%s raised %s: %s", what, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))


def settle_future(fut: Any, value: Any, error: Optional[BaseException]) -> None:
    """Runs in the event loop: complete an asyncio future unless its awaiter cancelled it."""
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)
