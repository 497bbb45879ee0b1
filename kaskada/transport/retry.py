"""The one backoff of the client: token exchange retries and gRPC read retries alike.

Exponential with a cap and jitter (each pause is 50-100 % of
``min(CAP, BASE * 2**attempt)``), and never past the caller's deadline: a pause
that would end after it is not taken, so the caller gives up in time instead.
A server that asks for a delay (gRPC ``google.rpc.RetryInfo``) gets at least
that delay, jittered upwards by up to half, so clients told the same delay do
not all come back in the same instant.
"""

from __future__ import annotations

BASE = 0.1  # seconds before the second attempt (before jitter)
CAP = 1.0  # no pause of our own choosing is longer


def backoff(attempt: int) -> float:
    """The pause after failed attempt number ``attempt`` (0 for the first)."""
    import random  # only on a retry: random loads hashlib's sha512

    return float(min(CAP, BASE * 2**attempt)) * (0.5 + random.random() / 2)


def asked_pause(asked: float) -> float:
    """The pause for a delay the server asked for: 100-150 % of it, never less."""
    import random

    return asked * (1 + random.random() / 2)


def pause_before(
    deadline: float, attempt: int, now: float, *, asked: float | None = None
) -> float | None:
    """The pause before retrying, or None when it would end at or after ``deadline``.

    ``asked``: the delay the server asked for (RetryInfo), honoured when given.
    """
    pause = asked_pause(asked) if asked else backoff(attempt)
    return pause if now + pause < deadline else None
