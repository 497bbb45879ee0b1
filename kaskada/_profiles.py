"""Profile lifecycle across the two stores (keyring first, file last).

CONTRACT STUB (the profiles issue fills it in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaskada._config import Profile
from kaskada._secret import Secret


def profile_secret(name: str, client_id: str) -> Secret | None:
    """The stored secret of a profile, cached per (name, client id) in this process.

    The cache entry is dropped when the config file shows the profile changed or
    gone. ``None`` when the keyring holds no secret for it; KeyringError when the
    keyring cannot be used.
    """
    raise NotImplementedError


def add_profile(
    name: str,
    fields: Mapping[str, Any],
    secret: Secret | None,
    *,
    make_default: bool = False,
    force: bool = False,
) -> Profile:
    """Store a profile: the secret in the keyring first, then the file; undo on failure.

    ``fields`` uses the PROFILE_KEYS vocabulary. ProfileExistsError without ``force``.
    """
    raise NotImplementedError
