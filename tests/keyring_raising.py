"""A keyring backend that raises a BaseException which is not an Exception.

Select it in a child process with ``PYTHON_KEYRING_BACKEND=tests.keyring_raising.Keyring``
and ``KEYRING_RAISES=SystemExit`` (or ``KeyboardInterrupt``).
"""

from __future__ import annotations

import builtins
import os

from keyring.backend import KeyringBackend


def _raise() -> None:
    kind = getattr(builtins, os.environ.get("KEYRING_RAISES", "SystemExit"))
    raise kind(3) if kind is SystemExit else kind()


class Keyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]
    viable = False  # only when chosen by name, never by keyring's detection (see keyring_blocking)

    def get_password(self, service: str, username: str) -> str | None:
        _raise()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        _raise()

    def delete_password(self, service: str, username: str) -> None:
        _raise()
