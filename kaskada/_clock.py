"""The clock of token refreshes and expiries, in one place so tests can move time.

Every decision about when a token is due or expired -- the in-process token
source, the disk token cache, delegated sessions and handed-on tokens, and the
local server's device codes and refresh tokens -- reads time through ``get()``,
never ``time`` directly. Tests install a clock they
advance by hand (``with _clock.use(clock):``) instead of sleeping and asserting
on elapsed wall-clock time. gRPC call deadlines stay on the real clock: the
network keeps real time.

This module is loaded at resolution (``_handed``), so it imports ``time`` only
(no ``typing``, no ``contextlib``: each costs milliseconds at first use).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What refresh and expiry decisions need: two clocks and a way to wait."""

    def monotonic(self) -> float:
        """Seconds that never go back (in-memory refresh and expiry instants)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (expiries on disk or handed to another process)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (the backoff between token exchange attempts and sync gRPC retries)."""
        ...


class SystemClock:
    """The real clocks of ``time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM: Clock = SystemClock()
_current: Clock = SYSTEM


def get() -> Clock:
    """The clock in force: the system clock unless a test installed another."""
    return _current


def to_wall(monotonic_time: float) -> float:
    """An in-memory (monotonic) instant as epoch seconds, e.g. a token's expiry."""
    clock = _current
    return clock.time() + (monotonic_time - clock.monotonic())


class use:  # lower case: used like a function, ``with _clock.use(fake):``
    """Make ``clock`` the process's clock inside a ``with`` block (tests)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._previous: Clock = SYSTEM

    def __enter__(self) -> Clock:
        global _current
        self._previous, _current = _current, self._clock
        return self._clock

    def __exit__(self, *exc: object) -> None:
        global _current
        _current = self._previous
