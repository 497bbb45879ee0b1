"""Everything kaskada keeps per process, listed once: its owner and when it goes stale.

- ``_config``: the parsed config file, per path. Stale when the file's identity
  (inode, size, times) changes.
- ``_stored_secrets``: secrets read from the keyring, per (profile, client id).
  Stale when the config file changes.
- ``_session``: a Session per (options, KASKADA_* variables), and the
  ``kda.init()`` one. Stale when the config file it read changes; a changed
  variable is another key.
- ``_resolve``: whether the shadowing warning was given (once per process).
- ``credentials.tokens``: credentials shared between sessions (``SHARED``), per
  (class, the class's ``sharing_key``: what its credentials were made from). Never
  stale: each refreshes its token by the token's expiry; a changed setting is
  another key.
- ``_token_cache``: which disk-cache warnings were given (the tokens live on disk,
  one file per key; a corrupt entry is a miss).
- ``_transport``: gRPC channels per ChannelKey (``POOL``). Never stale: closed at
  exit, dropped after fork.

``reset_all()`` clears all of it (tests start each case from a fresh process's
state); modules not loaded yet hold nothing and are not imported for it.
"""

from __future__ import annotations

import importlib
import sys

OWNERS = (
    "kaskada.config.file",
    "kaskada.credentials.stored",
    "kaskada._session",
    "kaskada.settings.resolve",
    "kaskada.credentials.tokens",
    "kaskada.credentials.token_cache",
    "kaskada.transport.sync",
)


def reset_all() -> None:
    """Forget every process-wide state kaskada keeps (each owner's clear_process_state)."""
    for name in OWNERS:
        if name in sys.modules:
            importlib.import_module(name).clear_process_state()
