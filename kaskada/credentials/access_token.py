"""An access token as the credentials step holds it, with when to refresh it.

Its own module so that the token exchange (``_token``) and the disk cache
(``_token_cache``) share one type and one refresh rule without importing
each other.
"""

from __future__ import annotations

from typing import NamedTuple

from kaskada._secret import Secret

REFRESH_MARGIN_CAP = 60.0


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is replaced: min(60 s, half its lifetime)."""
    return min(REFRESH_MARGIN_CAP, lifetime / 2)


class Token(NamedTuple):
    """An access token and when to refresh it (``_clock`` monotonic seconds).

    An immutable value; the disk cache builds one at a warm process's first call.
    """

    access_token: Secret
    token_type: str
    lifetime: float
    refresh_at: float
    expires_at: float
