"""Process-wide caches register here so tests (and fork handlers) can drop them all."""

from __future__ import annotations

from collections.abc import Callable

_hooks: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Register a function that clears one module's process state."""
    _hooks.append(hook)
    return hook


def reset_all() -> None:
    for hook in list(_hooks):
        hook()
