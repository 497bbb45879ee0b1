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


def _snapshot_env() -> tuple[str | None, ...]:
    """The KASKADA_* values in force, as the memo key."""
    return tuple(map(os.environ.get, ENV_VARS))


def _decoded(env_values: tuple[str | None, ...]) -> dict[str, str | None]:
    """The snapshot as the variables' names and values, for resolve_layers."""
    return dict(zip(ENV_VARS, env_values, strict=True))


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
    """What resolve_options would return without reading the keyring, or None (not memoized).

    The hot path of entering ``kda.session(...)``: one env snapshot, one dict
    lookup and the config file's freshness check.
    """
    if env_values is None:
        env_values = _snapshot_env()
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
    """``resolve`` for options already built."""
    env_values = _snapshot_env()
    found = memoized(options, env_values)
    if found is not None:
        return found
    uses_file = (
        bool(options.profile)
        or env_values[ENV_VARS.index("KASKADA_PROFILE")] is not None
        or (options.client_secret is None and options.jwt is None)
    )
    identity = _config_identity() if uses_file else None
    settings = resolve_layers(options, _decoded(env_values))
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[(options, env_values)] = (settings, identity)
    return settings


def resolve_default() -> Settings:
    """What ``kda.init()`` with no arguments would use."""
    return resolve_options(ConnectionOptions())
