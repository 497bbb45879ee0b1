"""Read and change profiles from Python, as the CLI's ``kaskada profile …`` verbs do.

    from kaskada import profiles
    profiles.add("dev", client_id="my-id", secret=kaskada.Secret(getpass()),
                 endpoint="localhost:50051", exchange_endpoint="http://localhost:50052/oauth/token")
    profiles.names()                      # ['dev']
    profiles.get("dev").endpoint          # 'localhost:50051'
    profiles.set_value("dev", "timeout", 10)
    profiles.remove("dev")                # its secret too
    profiles.secret_state("dev").stored   # True/False: is a secret there (never its value)

Profiles live in ``config.toml`` (``config_path()``), their secrets in the OS
keyring; every change follows the README's rules (atomic writes under a lock,
keyring first and file last, a secret dropped when a field it is bound to
changes). Errors are the ``kaskada`` ones: ``ProfileNotFoundError``,
``ProfileExistsError``, ``ConfigError``, ``KeyringError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kaskada._errors import ConfigError, KaskadaError, KeyringError, SecretBindingError
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config.file import PROFILE_KEYS, ConfigFile, Profile

if TYPE_CHECKING:
    from kaskada.config.lifecycle import FieldChange, Removed
    from kaskada.credentials.profile_stores import SecretStore

# Reading (names, get, load) is the hot path of `kaskada profile list` and shell
# completion: the writers (_profiles: keyring, tomli_w, the lock) load on first change.

__all__ = [
    "KEYS",
    "ConfigFile",
    "FieldChange",
    "Profile",
    "Removed",
    "SecretState",
    "Store",
    "Unchecked",
    "add",
    "check_fields",
    "check_keyring",
    "check_name",
    "config_path",
    "default",
    "export",
    "forget_all_tokens",
    "forget_tokens",
    "get",
    "get_value",
    "has_secret",
    "import_file",
    "legacy_secret",
    "load",
    "names",
    "plain_text_path",
    "remove",
    "rename",
    "secret_state",
    "secret_store",
    "set_value",
    "store_fields",
    "store_kind",
    "store_secret",
    "token_cache_dir",
    "toml_fields",
    "unchecked",
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


# -- checking what a caller typed (no I/O) ------------------------------------------


def check_name(name: object) -> str:
    """``name`` if it is a valid profile name, else ``InvalidProfileNameError`` saying why."""
    from kaskada.config.names import validate_profile_name

    return validate_profile_name(name)


def check_fields(
    fields: Mapping[str, Any], *, where: str = "profile", partial: bool = False
) -> dict[str, Any]:
    """``fields`` checked as the profiles file's reader checks them; None values dropped.

    ``ConfigError`` names ``where`` (a flag, a file) and the key: what ``add`` would
    refuse, found before anything is asked or written. ``partial``: a few keys of a
    profile (one flag), so the rules between keys (``auth`` and ``issuer``…) are left to
    ``add``/``set_value``, which see the whole profile."""
    return _config.validate_fields(fields, where=where, partial=partial)


def toml_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's fields as the file writes them (``secret_command`` as a list): for JSON too."""
    return _config.toml_fields(fields)


# -- where a profile's secret lives --------------------------------------------------


def store_kind(fields: Mapping[str, Any]) -> str:
    """Which store a profile with these fields takes its secret from: ``keyring`` (the
    default), ``env``, ``command`` or ``file``. Reads nothing."""
    return _config.store_of(fields)


def store_fields(
    secret_env: str | None = None,
    secret_command: Sequence[str] | None = None,
    insecure_storage: bool = False,
) -> dict[str, Any]:
    """The profile fields that choose a store: a variable, a command, or the plain-text
    file (``insecure_storage``); none for the keyring. More than one is a ConfigError."""
    from kaskada.credentials import profile_stores as _stores

    return _stores.store_fields(secret_env, secret_command, insecure_storage)


class Store(NamedTuple):
    """Where a profile's secret lives, described (no value is read)."""

    kind: str
    """``keyring``, ``env``, ``command`` or ``file``."""
    where: str
    """In words, for messages: ``the keyring``, ``the environment variable X``, …"""
    bound: bool
    """True: kaskada stores the secret there, bound to the profile's settings (keyring,
    file). False: it is read from its source when needed and never stored (env, command)."""


def _store(name: str, fields: Mapping[str, Any] | None) -> SecretStore:
    from kaskada.credentials import profile_stores as _stores

    return _stores.store_for(name, fields)


def _described(store: SecretStore) -> Store:
    return Store(kind=store.kind, where=store.describe(), bound=store.bound)


def secret_store(name: str, fields: Mapping[str, Any] | None = None) -> Store:
    """Where profile ``name``'s secret lives: by ``fields`` when given (a profile about to
    be saved), else by the file. ConfigError when the store's settings are incomplete."""
    return _described(_store(name, fields))


def plain_text_path(name: str) -> Path:
    """The file an opted-in plain-text secret of profile ``name`` is (or would be) kept in."""
    from kaskada.credentials import profile_stores as _stores

    return _stores.FileStore(name).path()


class SecretState(NamedTuple):
    """What ``profile show`` says of a profile's secret; never the secret itself."""

    store: Store
    stored: bool | None
    """Whether a secret is stored (keyring, file); None when the store could not be read
    (see ``problem``) or is not one kaskada stores in (env, command: not read here)."""
    usable: bool | None
    """True: stored and bound to the profile's settings as they are now, so it will be
    sent; False: stored but not sent (see ``problem``); None: nothing to judge."""
    problem: str | None = None
    """Why the state is unknown or the secret unusable, with the fix."""
    holds: str = "secret"
    """What the store keeps for this profile: ``secret`` (a client secret), ``refresh
    token`` (``auth = device``, from ``kaskada login``) or ``nothing`` (``auth =
    federated``: it reads a subject token, see ``source``)."""
    source: str | None = None
    """Where a value read only when needed comes from (a variable, a program, a subject
    token's file, variable or request); None when kaskada stores it."""
    present: bool | None = None
    """Whether that source is there now (the variable set, the program on the PATH, the
    file present); never its value. None: nothing to check."""


def secret_state(name: str, fields: Mapping[str, Any] | None = None) -> SecretState:
    """The state of profile ``name``'s stored secret (``fields``: as for ``secret_store``).

    Reads the keyring or the plain-text file, never a variable or a command; a store
    that cannot be read is reported in ``problem``, not raised."""
    from kaskada.credentials import binding as _binding

    if fields is None:
        fields = get(name).fields()
    store = _store(name, fields)
    described = _described(store)
    kind = fields.get("auth") or "client_secret"
    if kind == "federated":
        source, present = _subject_token_source(fields)
        return SecretState(described, stored=None, usable=None, holds="nothing",
                           source=source, present=present)
    holds = "refresh token" if kind == "device" else "secret"
    if not store.bound:
        return SecretState(described, stored=None, usable=None, holds=holds,
                           source=described.where, present=_source_present(store))
    try:
        entry = store.read()
        if entry is None:
            return SecretState(described, stored=False, usable=None, holds=holds)
        _binding.check(name, entry, fields)
    except SecretBindingError as error:
        return SecretState(described, stored=True, usable=False, problem=str(error),
                           holds=holds)
    except KaskadaError as error:
        return SecretState(described, stored=None, usable=None, problem=str(error),
                           holds=holds)
    return SecretState(described, stored=True, usable=True, holds=holds)


def _source_present(store: SecretStore) -> bool | None:
    """Whether a variable store's variable is set, a command store's program found."""
    import os
    import shutil

    from kaskada.credentials import profile_stores as _stores

    if isinstance(store, _stores.EnvStore):
        return bool(os.environ.get(store.variable))
    if isinstance(store, _stores.CommandStore):
        return shutil.which(store.argv[0]) is not None
    return None


def _subject_token_source(fields: Mapping[str, Any]) -> tuple[str, bool]:
    """Where a federated profile reads its subject token, and whether it is there now."""
    import os

    chosen = _config.subject_token_source_of(fields)
    if chosen == "file":
        path = str(fields.get("subject_token_file", ""))
        return f"the file {path}", Path(path).expanduser().is_file()
    if chosen == "env":
        variable = str(fields.get("subject_token_env", ""))
        return f"the environment variable {variable}", bool(os.environ.get(variable))
    from kaskada.credentials.signin import ACTIONS_TOKEN, ACTIONS_URL

    present = bool(os.environ.get(ACTIONS_URL)) and bool(os.environ.get(ACTIONS_TOKEN))
    return "GitHub Actions' OIDC request", present


def has_secret(name: str) -> bool:
    """Whether kaskada holds a stored secret for the profile (never its value).

    The keyring or the plain-text file, as the profile says; False for a profile whose
    secret is read from a variable or a command. A store that cannot be read raises
    (``KeyringError``)."""
    store = _store(name, None)
    return store.bound and store.read() is not None


def store_secret(name: str, secret: Secret | str, *, notes: list[str] | None = None) -> Profile:
    """Store the secret of an existing profile in its store, bound to its settings as they
    are now (what ``kaskada configure`` does when only the secret is new)."""
    profile = get(name)
    return add(name, profile.fields(), secret=secret, force=True, notes=notes)


def check_keyring(name: str) -> None:
    """Raise ``KeyringError`` (with the ways out) when the keyring cannot be read for
    profile ``name`` now: before asking someone for a secret that could not be stored."""
    from kaskada.credentials import keyring as _keyring

    _keyring.get_entry(name)


def legacy_secret(name: str) -> Secret | None:
    """A secret kaskada 0.1 stored for ``name`` without a record of where it may go, so
    that it is never sent; ``add``/``store_secret`` bind it once someone confirms where it
    belongs. None when there is none, or the keyring cannot be read."""
    from kaskada.credentials import keyring as _keyring

    try:
        entry = _keyring.get_entry(name)
    except KeyringError:
        return None
    if entry is None or entry.binding is not None or not entry.secret:
        return None
    return entry.secret


# -- the file before its checks ----------------------------------------------------


class Unchecked(NamedTuple):
    """The profiles file as written, before ``load()``'s checks: what ``configure`` reads
    to repair a profile that ``load()`` refuses (a ``client_secret`` left in the file)."""

    path: Path
    default_profile: Any
    """As written (normally a name or None)."""
    tables: Mapping[str, Any]
    """The ``[profiles.NAME]`` tables as written (a value may be anything)."""


def unchecked() -> Unchecked:
    """The file read without ``load()``'s checks (empty when absent); ConfigError for
    a file that is not TOML or whose ``profiles`` is not a table."""
    from kaskada.config import lifecycle as _profiles

    path = _config.config_path()
    document = _config.read_document(path)
    tables = dict(_profiles.profile_tables(document))
    return Unchecked(path, document.get("default_profile"), tables)


# -- cached tokens -----------------------------------------------------------------


def token_cache_dir() -> Path:
    """The folder of the on-disk token cache (``KASKADA_CACHE_DIR`` moves it)."""
    from kaskada.credentials import token_cache as _token_cache

    return _token_cache.cache_dir()


def forget_tokens(name: str) -> int:
    """Drop profile ``name``'s cached access tokens (the profile and its secret stay);
    how many were dropped. Its next call signs in again."""
    from kaskada.credentials import token_cache as _token_cache

    return _token_cache.forget_profile(name, _config.profile_table(get(name)))


def forget_all_tokens() -> int:
    """Drop every cached access token, of every profile; how many."""
    from kaskada.credentials import token_cache as _token_cache

    return _token_cache.forget_all()


def __getattr__(name: str) -> Any:
    """FieldChange and Removed (what set_value and remove return) load with the writers."""
    if name in ("FieldChange", "Removed"):
        from kaskada.config import lifecycle as _profiles

        return getattr(_profiles, name)
    raise AttributeError(f"module 'kaskada.profiles' has no attribute {name!r}")
