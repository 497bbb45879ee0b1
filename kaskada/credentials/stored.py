"""Reading a profile's stored secret from its store (``_secret_stores``), cached per process.

The read side of the two stores, apart from ``_profiles`` (which writes them):
a call that only needs a secret loads neither the TOML writer nor the profile
lifecycle code.

Secrets read from the keyring are cached per (keyring service, profile, client id) and dropped
as soon as the config file changes on disk: every kaskada write rewrites the
file, so a secret rotated from another shell is picked up at the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config import paths as _paths
from kaskada.credentials import binding as _binding
from kaskada.credentials import profile_stores as _secret_stores
from kaskada.credentials.keyring import Entry

log = logging.getLogger(__name__)

_secrets: dict[tuple[str, str, str], tuple[_config.ConfigFile, Entry]] = {}
"""(keyring service, profile, client id) -> (the config file it was read under, the entry)."""


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    _secrets.clear()


def forget(name: str) -> None:
    """Drop what this process has read for profile ``name`` (its profile was changed)."""
    for key in [key for key in _secrets if key[1] == name]:
        del _secrets[key]


def profile_entry(name: str, client_id: str) -> Entry | None:
    """The stored entry (secret and binding) of a profile, cached per (keyring service,
    name, client id).

    The cache entry is dropped when the config file changed on disk (``load()``
    then returns a new ConfigFile). ``None`` when the keyring holds no secret for
    it; KeyringError when the keyring cannot be used. The caller checks the
    binding (``_binding.check``) before sending the secret anywhere.
    """
    config = _config.load()
    _config.check_trusted()  # another account could have changed where the secret goes
    key = (_paths.keyring_service(), name, client_id)
    cached = _secrets.get(key)
    if cached is not None:
        if cached[0] is config:
            return cached[1]
        forget(name)
    profile = config.profiles.get(name)
    # A profile gone from the file: its keyring entry, as before stores existed.
    store = _secret_stores.store_for(name, {} if profile is None else profile.fields())
    entry = store.read()
    if entry is not None and store.kind != "env":  # a variable is read again each time
        _secrets[key] = (config, entry)
    found = "found" if entry else "none"
    log.debug("secret of profile %r read from %s: %s", name, store.kind, found)
    return entry


def cached_entry(name: str, client_id: str) -> Entry | None:
    """The entry this process has read for the profile, if any; no keyring I/O."""
    cached = _secrets.get((_paths.keyring_service(), name, client_id))
    return None if cached is None else cached[1]


def profile_secret(
    name: str, client_id: str, fields: Mapping[str, Any] | None = None
) -> Secret | None:
    """The stored secret of a profile, its binding checked against the profile's own
    fields (``fields``, else as the file has them now): SecretBindingError on a mismatch."""
    entry = profile_entry(name, client_id)
    if entry is None:
        return None
    current = _config.get_profile(name).fields() if fields is None else fields
    if _secret_stores.store_for(name, current).bound:
        _binding.check(name, entry, current)
    return entry.secret
