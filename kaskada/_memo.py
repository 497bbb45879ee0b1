"""Memoised resolution: the same options, environment and config file give the same Settings.

Entering ``kda.session(profile=...)`` for settings already seen must cost a
dictionary lookup, not a file read and a keyring call: the key is the options
(a tuple) and a snapshot of the KASKADA_* variables, and a hit is kept only
while the config file is the same (``_config.load`` returns the same object
while the file is unchanged).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from kaskada import _config, _fork
from kaskada._options import ConnectionOptions
from kaskada._reset import on_reset
from kaskada._resolve import ENV_VARS, resolve_layers
from kaskada._settings import Settings

_ENV_KEYS = tuple(os.fsencode(name) for name in ENV_VARS)
_PROFILE_INDEX = ENV_VARS.index("KASKADA_PROFILE")


def _snapshot_env() -> tuple[str | None, ...]:
    """The KASKADA_* values in force. ``os.environ.get`` costs ~2 us a name (it encodes
    the key and decodes the value), so on POSIX, where CPython keeps the environment
    as a dict of bytes, the hot path reads that dict; elsewhere (Windows keys are
    upper-cased str) it takes the public way."""
    data = getattr(os.environ, "_data", None) if os.name == "posix" else None
    if isinstance(data, dict):
        get = data.get
        return tuple([None if (raw := get(key)) is None else os.fsdecode(raw) for key in _ENV_KEYS])
    return tuple([os.environ.get(name) for name in ENV_VARS])


def _config_identity() -> object:
    """The cached ConfigFile (same object while the file is unchanged), or None."""
    try:
        return _config.load()
    except Exception:  # a broken file is reported by the layer that reads it
        return None


_memo: dict[tuple[Any, ...], tuple[Settings, object]] = {}
_memo_lock = threading.Lock()
_MEMO_LIMIT = 1024


@on_reset
def _clear() -> None:
    _memo.clear()


def _after_fork_in_child() -> None:
    global _memo_lock
    _memo_lock = threading.Lock()  # another thread may have held it at fork time


_fork.in_child_after_fork(_after_fork_in_child)


def resolve(**options: Any) -> Settings:
    """The settings ``init(**options)`` would use, memoized per (options, env, file)."""
    return resolve_options(ConnectionOptions(**options))


def memoized(
    options: ConnectionOptions, env_values: tuple[str | None, ...] | None = None
) -> Settings | None:
    """What resolve_options would return without reading the keyring, or None (not memoized)."""
    if env_values is None:
        env_values = _snapshot_env()
    hit = _memo.get((options, env_values))
    if hit is not None:
        settings, identity = hit
        if identity is None or _config_identity() is identity:
            return settings
    return None


def resolve_options(options: ConnectionOptions) -> Settings:
    """``resolve`` for options already built: the hot path of session()."""
    env_values = _snapshot_env()
    found = memoized(options, env_values)
    if found is not None:
        return found
    uses_file = (
        bool(options.profile)
        or env_values[_PROFILE_INDEX] is not None
        or (options.client_secret is None and options.jwt is None)
    )
    identity = _config_identity() if uses_file else None
    settings = resolve_layers(options, dict(zip(ENV_VARS, env_values, strict=True)))
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[(options, env_values)] = (settings, identity)
    return settings


def resolve_default() -> Settings:
    """What ``kda.init()`` with no arguments would use."""
    return resolve_options(ConnectionOptions())
