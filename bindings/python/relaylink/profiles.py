"""Meter profiles: what to send to a meter model and how to read its answer.

Built in: ``eastron_sdm320c`` (aliases ``eastron_sdm``, ``sdm320c``: an SDM320C behind a Milesight
UC100 in pass-through) and ``ivy_em114039`` (aliases ``ivy_em114``, ``ivy``). More come from JSON
(the format of ``docs/profiles.md``)::

    >>> from relaylink import profiles
    >>> profiles.get("eastron_sdm").relay_off().payload.hex()
    '010500000000cdca'
    >>> profiles.load("site-profiles.json")      # adds them to the default registry

The default registry is what a :class:`relaylink.RelayService` uses unless given its own.
"""
from __future__ import annotations

import os
from typing import List, Optional, Union

from . import _core
from ._errors import ProfileError

Profile = _core.Profile
ProfileRegistry = _core.ProfileRegistry
Downlink = _core.Downlink
ReplyMatch = _core.ReplyMatch

_registry: Optional[ProfileRegistry] = None


def default_registry() -> ProfileRegistry:
    """The process-wide registry: the built-ins plus whatever :func:`load` and :func:`register` added."""
    global _registry
    if _registry is None:
        _registry = ProfileRegistry()
    return _registry


def get(name: str) -> Profile:
    """A profile by name or alias; :class:`ProfileError` listing the known names otherwise."""
    return default_registry().get(name)


def names() -> List[str]:
    return default_registry().names()


def builtin() -> List[Profile]:
    """The built-in profiles."""
    return _core.builtin_profiles()


def from_json(text: Union[str, bytes]) -> List[Profile]:
    """Profiles from JSON text (one object, an array, or ``{"profiles": [...]}``), not registered.
    :class:`ProfileError` names the field that is wrong (``e.field``)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
    return _core.profiles_from_json(text)


def load(source: Union[str, "os.PathLike[str]"], *, registry: Optional[ProfileRegistry] = None) -> List[Profile]:
    """Read profiles from a JSON file (or JSON text starting with ``{`` or ``[``) and register them
    (in the default registry unless ``registry`` is given). Nothing is registered when any profile
    is refused."""
    text = str(source) if isinstance(source, str) and source.lstrip()[:1] in ("{", "[") else None
    if text is None:
        path = os.fspath(source)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ProfileError(f"cannot read profile file {path}: {e.strerror}", field="file") from None
        try:
            loaded = from_json(text)
        except ProfileError as e:
            raise ProfileError(f"{path}: {e}", field=e.field) from None
    else:
        loaded = from_json(text)
    target = registry if registry is not None else default_registry()
    trial = target.copy()  # all or nothing
    for p in loaded:
        trial.add(p)
    for p in loaded:
        target.add(p)
    return loaded


def register(profile: Profile, *, registry: Optional[ProfileRegistry] = None) -> None:
    """Add (or replace) a profile."""
    (registry if registry is not None else default_registry()).add(profile)


__all__ = ["Profile", "ProfileRegistry", "Downlink", "ReplyMatch", "ProfileError", "default_registry", "get", "names",
           "builtin", "from_json", "load", "register"]
