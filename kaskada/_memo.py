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

from kaskada import _config, _fork, _token_cache
from kaskada._options import ConnectionOptions
from kaskada._reset import on_reset
from kaskada._resolve import ENV_VARS, resolve_layers
from kaskada._settings import Settings

_ENV_KEYS = tuple(os.fsencode(name) for name in ENV_VARS)
_PROFILE_INDEX = ENV_VARS.index("KASKADA_PROFILE")
_POSIX = os.name == "posix"


def _snapshot_env() -> tuple[str | bytes | None, ...]:
    """The KASKADA_* values in force, as the memo key. ``os.environ.get`` costs ~0.3 us
    a name (it encodes the key and decodes the value), so on POSIX, where CPython
    keeps the environment as a dict of bytes, the hot path takes that dict's raw
    values (~0.15 us for all of them) and decodes only on a miss (``_decoded``);
    elsewhere (Windows keys are upper-cased str) it takes the public way."""
    data = getattr(os.environ, "_data", None) if _POSIX else None
    if isinstance(data, dict):
        return tuple(map(data.get, _ENV_KEYS))
    return tuple(map(os.environ.get, ENV_VARS))


def _decoded(env_values: tuple[str | bytes | None, ...]) -> dict[str, str | None]:
    """The snapshot as the variables' names and str values, for resolve_layers."""
    return {
        name: os.fsdecode(value) if isinstance(value, bytes) else value
        for name, value in zip(ENV_VARS, env_values, strict=True)
    }


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
    options: ConnectionOptions, env_values: tuple[str | bytes | None, ...] | None = None
) -> Settings | None:
    """What resolve_options would return without reading the keyring, or None (not memoized).

    The hot path of entering ``kda.session(...)``: one env snapshot, one dict
    lookup and the config file's freshness check, with no call in between.
    """
    if env_values is None:
        data = getattr(os.environ, "_data", None) if _POSIX else None  # _snapshot_env, inlined
        env_values = tuple(map(data.get, _ENV_KEYS)) if isinstance(data, dict) else _snapshot_env()
    hit = _memo.get((options, env_values))
    if hit is not None:
        identity = hit[1]
        if identity is None:
            return hit[0]
        try:
            current = _config.load_recent()
        except Exception:  # a broken file is reported by the layer that reads it
            return None
        if current is identity:
            return hit[0]
    return None


def resolve_options(options: ConnectionOptions) -> Settings:
    """``resolve`` for options already built: a profile's secret is read now (unless
    the token cache is warm), so a missing one fails here, at init() or the ``with``."""
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
    settings = resolve_layers(options, _decoded(env_values))
    _token_cache.require_secret_unless_cached(settings)  # a warm cache reads no keyring
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[(options, env_values)] = (settings, identity)
    return settings


def check_options(options: ConnectionOptions) -> Settings:
    """Everything ``resolve_options`` checks but the keyring read (not memoized: the
    secret is unchecked). On an event loop a session is checked with this at once, so
    a mistyped profile fails at the ``with`` line, and the keyring waits for first use."""
    found = memoized(options)
    if found is not None:
        return found
    return resolve_layers(options, _decoded(_snapshot_env()))


def resolve_default() -> Settings:
    """What ``kda.init()`` with no arguments would use."""
    return resolve_options(ConnectionOptions())
