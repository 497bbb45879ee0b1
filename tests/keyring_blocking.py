"""A keyring backend that never answers, like a locked or hung Secret Service.

Select it in a child process with
``PYTHON_KEYRING_BACKEND=tests.keyring_blocking.Keyring``; in-process tests set
``RELEASE`` afterwards so the stuck worker thread ends.
"""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend

RELEASE = threading.Event()
HOURS = 3600.0


class Keyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]
    # Only when chosen by name: keyring's detection considers every imported backend, and
    # without a Secret Service this one (priority 1) would beat ``fail`` (0) in the test
    # process, so every "no keyring" test would wait out KASKADA_KEYRING_TIMEOUT instead.
    viable = False

    def get_password(self, service: str, username: str) -> str | None:
        RELEASE.wait(HOURS)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        RELEASE.wait(HOURS)

    def delete_password(self, service: str, username: str) -> None:
        RELEASE.wait(HOURS)
