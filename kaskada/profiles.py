"""Read and change profiles from Python, as the CLI's ``kaskada profile …`` verbs do.

    from kaskada import profiles
    profiles.add("dev", client_id="my-id", secret=kaskada.Secret(getpass()),
                 endpoint="localhost:50051", exchange_endpoint="http://localhost:50052/oauth/token")
    profiles.names()                      # ['dev']
    profiles.get("dev").endpoint          # 'localhost:50051'
    profiles.set_value("dev", "timeout", 10)
    profiles.remove("dev")                # its secret too

Profiles live in ``config.toml`` (``config_path()``), their secrets in the OS
keyring; every change follows the README's rules (atomic writes under a lock,
keyring first and file last, a secret dropped when a field it is bound to
changes). Errors are the ``kaskada`` ones: ``ProfileNotFoundError``,
``ProfileExistsError``, ``ConfigError``, ``KeyringError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaskada._errors import ConfigError
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config.file import PROFILE_KEYS, ConfigFile, Profile

if TYPE_CHECKING:
    from kaskada.config.lifecycle import FieldChange, Removed

# Reading (names, get, load) is the hot path of `kaskada profile list` and shell
# completion: the writers (_profiles: keyring, tomli_w, the lock) load on first change.

__all__ = [
    "KEYS",
    "ConfigFile",
    "FieldChange",
    "Profile",
    "Removed",
    "add",
    "config_path",
    "default",
    "export",
    "get",
    "get_value",
    "has_secret",
    "import_file",
    "load",
    "names",
    "remove",
    "rename",
    "set_value",
    "unset_value",
    "use",
]

KEYS: tuple[str, ...] = tuple(PROFILE_KEYS)
"""The keys a profile may hold (``set_value``/``get_value`` take these)."""


def config_path() -> Path:
    """Where the profiles file is (or would be)."""
    return _config.config_path()


def load() -> ConfigFile:
    """The profiles file as read now: its path, default profile and profiles."""
    return _config.load()


def names() -> list[str]:
    """The profile names, sorted."""
    return sorted(_config.load().profiles)


def get(name: str) -> Profile:
    """One profile (``ProfileNotFoundError`` naming the known ones when absent)."""
    return _config.get_profile(name)


def default() -> str | None:
    """The name of the default profile, if one is set."""
    return _config.load().default_profile


def add(
    name: str,
    fields: Mapping[str, Any] | None = None,
    *,
    secret: Secret | str | None = None,
    default: bool = False,
    force: bool = False,
    notes: list[str] | None = None,
    **keys: Any,
) -> Profile:
    """Store a profile and its secret (in the keyring).

    Its fields by their ``KEYS`` names, as a mapping, keywords or both (None: not
    set). ``force`` replaces an existing profile; ``default`` makes it the
    default. What was dropped, and why, is appended to ``notes``.
    """
    from kaskada.config import lifecycle as _profiles

    given = secret if isinstance(secret, Secret) or secret is None else Secret(secret)
    merged = {**(fields or {}), **keys}
    return _profiles.add_profile(
        name, merged, given, make_default=default, force=force, notes=notes
    )


def remove(name: str, *, keep_orphan: bool = False) -> Removed:
    """Delete a profile and its secret; the default is cleared if it was this one."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.remove_profile(name, keep_orphan=keep_orphan)


def rename(old: str, new: str, *, force: bool = False, keep_orphan: bool = False) -> Profile:
    """Rename a profile; its secret and the default follow."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.rename_profile(old, new, force=force, keep_orphan=keep_orphan)


def use(name: str | None) -> None:
    """Make ``name`` the default profile (None: no default)."""
    from kaskada.config import lifecycle as _profiles

    _profiles.set_default(name)


def get_value(name: str, key: str) -> Any:
    """One field of a profile (None when unset)."""
    if key not in KEYS:
        raise ConfigError(f"{key!r} is not a profile key: use one of {', '.join(KEYS)}")
    return getattr(_config.get_profile(name), key)


def set_value(name: str, key: str, value: Any) -> FieldChange:
    """Change one field of an existing profile (a bound field drops the stored secret)."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.set_field(name, key, value)


def unset_value(name: str, key: str) -> FieldChange:
    """Remove one field of an existing profile."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.set_field(name, key, None)


def has_secret(name: str) -> bool:
    """Whether the keyring holds a secret for the profile (never its value)."""
    from kaskada.credentials import keyring as _keyring  # loads keyring: only when asked

    return _keyring.get_secret(name) is not None


def import_file(
    path: str | Path,
    *,
    force: bool = False,
    notes: list[str] | None = None,
    accept_secret_sources: bool = False,
) -> list[str]:
    """Add the profiles of another profiles file (never secrets); the names imported.

    A ``secret_command`` or ``secret_env`` in it is refused unless
    ``accept_secret_sources`` says the caller has read them."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.import_profiles(
        Path(path), force=force, notes=notes, accept_secret_sources=accept_secret_sources
    )


def export(names: Iterable[str] = ()) -> str:
    """The named profiles (all when none are named) as TOML text; never a secret."""
    from kaskada.config import lifecycle as _profiles

    return _profiles.export_profiles(names)


def __getattr__(name: str) -> Any:
    """FieldChange and Removed (what set_value and remove return) load with the writers."""
    if name in ("FieldChange", "Removed"):
        from kaskada.config import lifecycle as _profiles

        return getattr(_profiles, name)
    raise AttributeError(f"module 'kaskada.profiles' has no attribute {name!r}")
