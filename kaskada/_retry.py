"""The one backoff of the client: token exchange retries and gRPC read retries alike.

Exponential with a cap and jitter (each pause is 50-100 % of
``min(CAP, BASE * 2**attempt)``), and never past the caller's deadline: a pause
that would end after it is not taken, so the caller gives up in time instead.
"""

from __future__ import annotations

BASE = 0.1  # seconds before the second attempt (before jitter)
CAP = 1.0  # no pause is longer


def backoff(attempt: int) -> float:
    """The pause after failed attempt number ``attempt`` (0 for the first)."""
    import random  # only on a retry: random loads hashlib's sha512

    return float(min(CAP, BASE * 2**attempt)) * (0.5 + random.random() / 2)


def pause_before(deadline: float, attempt: int, now: float) -> float | None:
    """The pause before retrying, or None when it would end at or after ``deadline``."""
    pause = backoff(attempt)
    return pause if now + pause < deadline else None
