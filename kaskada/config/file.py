"""The profiles file: ``config.toml`` under the user config folder.

Reading is strict (every value is type-checked, so a mistake is reported with
the file, the profile and the key instead of surfacing later as a confusing
connection error; each profile when it is first used or listed, see
:func:`parse`) and cached on the file's identity (inode, size, mtime), so
a lookup after the first load costs a ``stat``, while a long-running notebook
still sees a profile that a shell added (a memoised session looks at most every
RECHECK_SECONDS: :func:`load_recent`). Writing goes through :func:`update`:
under the cross-process lock, re-read, change, atomic replace. The writer keeps
keys it does not know; ``tomli-w`` does not keep comments.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from time import monotonic
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple, TypeVar
from urllib.parse import urlsplit

from kaskada._errors import ConfigError, ProfileNotFoundError, UntrustedConfigError
from kaskada.config import paths as _paths
from kaskada.config.names import validate_profile_name, validate_profile_names
from kaskada.settings import env as _env
from kaskada.settings import schema as _schema
from kaskada.settings.hostport import endpoint_message

PROFILE_KEYS = _schema.PROFILE_KEYS  # the one table of settings says which
_TEXT_KEYS = _schema.TEXT_KEYS
SECRET_STORES = ("keyring", "env", "command", "file")
MAX_VALUE_LENGTH = 4096
# A profiles file kaskada writes is a few KiB; past this it is not one (and a
# huge file would cost seconds and hundreds of MiB to parse on every process).
MAX_FILE_BYTES = 4 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

log = logging.getLogger(__name__)
T = TypeVar("T")


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


# NamedTuples: immutable and hashable values.
class Profile(NamedTuple):
    """One ``[profiles.NAME]`` table, validated. ``None`` means "not set"."""

    name: str
    client_id: str | None = None
    endpoint: str | None = None
    is_secure: bool | None = None
    exchange_endpoint: str | None = None
    audience: str | None = None
    ca_bundle: str | None = None
    timeout: float | None = None
    token_cache: bool | None = None
    secret_store: str | None = None
    secret_env: str | None = None
    secret_command: tuple[str, ...] | None = None
    auth: str | None = None
    issuer: str | None = None
    subject_token_file: str | None = None
    subject_token_env: str | None = None
    subject_token_source: str | None = None
    extra: Mapping[str, Any] = _NO_EXTRA  # unknown keys, kept on rewrite

    def fields(self) -> dict[str, Any]:
        """The PROFILE_KEYS that are set, in vocabulary order."""
        values = {key: getattr(self, key) for key in PROFILE_KEYS}
        return {key: value for key, value in values.items() if value is not None}


class ConfigFile(NamedTuple):
    """The parsed file; an absent file is an empty ConfigFile."""

    path: Path
    default_profile: str | None
    profiles: Mapping[str, Profile]


# --- validation --------------------------------------------------------------


def validate_fields(
    fields: Mapping[str, Any], *, where: str, profile: str = "NAME", partial: bool = False
) -> dict[str, Any]:
    """The PROFILE_KEYS of ``fields`` type-checked; ConfigError naming ``where`` and the key.

    ``None`` values are dropped (not set). Keys outside the vocabulary are refused:
    callers pass unknown file keys separately (``Profile.extra``). ``partial``: some keys
    of a profile (one typed flag, one ``profile set``), so the rules between keys wait
    for the whole profile.
    """
    checked: dict[str, Any] = {}
    for key, value in fields.items():
        _refuse_forbidden(key, where, profile)
        if key not in PROFILE_KEYS:
            raise ConfigError(
                f"{where}: unknown setting {key!r}; the settings are {', '.join(PROFILE_KEYS)}"
            )
        if value is not None:
            checked[key] = _check_value(key, value, where)
    if not partial:
        _check_store(checked, where, profile)
        _check_kind(checked, where, profile)
    return checked


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def store_of(fields: Mapping[str, Any]) -> str:
    """Where a profile's secret lives: ``secret_store``, else what its keys imply."""
    store = fields.get("secret_store")
    if store:
        return str(store)
    if fields.get("secret_env"):
        return "env"
    if fields.get("secret_command"):
        return "command"
    return "keyring"


def _check_store(checked: Mapping[str, Any], where: str, profile: str) -> None:
    """The store settings agree: one source, and the one ``secret_store`` names."""
    if checked.get("secret_env") and checked.get("secret_command"):
        raise ConfigError(
            f"{where}: secret_env and secret_command are both set; a profile's secret has one "
            "store: remove one of them"
        )
    store = checked.get("secret_store")
    for key, kind in (("secret_env", "env"), ("secret_command", "command")):
        if checked.get(key) and store not in (None, kind):
            raise ConfigError(
                f"{where}: {key} is set but secret_store is {store!r}; set secret_store = "
                f"{kind!r} or remove {key}"
            )
    for kind, key, example in (("env", "secret_env", "VAR"),
                               ("command", "secret_command", "'PROGRAM ARGS'")):
        if store == kind and not checked.get(key):
            raise ConfigError(
                f"{where}: secret_store is {kind!r} but {key} is not set, so nothing says "
                f"where the secret is read from: `kaskada profile set {profile} {key} "
                f"{example}`, or remove secret_store"
            )


def subject_token_source_of(fields: Mapping[str, Any]) -> str:
    """Where a federated profile reads its subject token: ``subject_token_source``, else
    what its keys imply, else GitHub Actions' OIDC request."""
    source = fields.get("subject_token_source")
    if source:
        return str(source)
    if fields.get("subject_token_file"):
        return "file"
    if fields.get("subject_token_env"):
        return "env"
    return "github_actions"


def _check_kind(checked: Mapping[str, Any], where: str, profile: str) -> None:
    """A device login's refresh token rotates at each use, so it lives where kaskada can
    write it back (the keyring or the opted-in file); a subject token has one source."""
    if checked.get("auth") == "device" and store_of(checked) in ("env", "command"):
        key = "secret_env" if store_of(checked) == "env" else "secret_command"
        raise ConfigError(
            f"{where}: auth = 'device' keeps a refresh token that the server rotates at each "
            f"use, and kaskada cannot write it back to secret_store {store_of(checked)!r}: "
            f"keep it in the keyring (`kaskada profile unset {profile} {key}`) or a "
            "plain-text file (secret_store = 'file')"
        )
    kind = checked.get("auth") or "client_secret"
    if checked.get("issuer") and kind == "client_secret":
        raise ConfigError(
            f"{where}: issuer is read only by a device or federated sign-in, and this profile "
            f"signs in with a client secret: set auth first (`kaskada profile set {profile} "
            "auth device`, or federated), or give a client secret's token endpoint as "
            "exchange_endpoint"
        )
    if kind == "federated" and store_of(checked) != "keyring":
        key = next((key for key in ("secret_env", "secret_command", "secret_store")
                    if checked.get(key)), "secret_store")
        raise ConfigError(
            f"{where}: auth = 'federated' exchanges a subject token and keeps no secret, so "
            f"{key} would never be read: leave it out (`kaskada profile unset {profile} {key}` "
            "if the file has it)"
        )
    subject_keys = [key for key in ("subject_token_file", "subject_token_env",
                                    "subject_token_source") if checked.get(key)]
    if subject_keys and kind != "federated":
        raise ConfigError(
            f"{where}: {subject_keys[0]} is read only by a federated sign-in, and this "
            f"profile's auth is {kind!r}: `kaskada profile set {profile} auth federated`, "
            f"or `kaskada profile unset {profile} {subject_keys[0]}`"
        )
    chosen = checked.get("subject_token_source")
    if kind == "federated" and chosen in ("file", "env") and not checked.get(
            f"subject_token_{chosen}"):
        raise ConfigError(
            f"{where}: subject_token_source is {chosen!r} but subject_token_{chosen} is not "
            f"set, so nothing says where the subject token is read from: `kaskada profile set "
            f"{profile} subject_token_{chosen} …`")
    if checked.get("subject_token_file") and checked.get("subject_token_env"):
        raise ConfigError(
            f"{where}: subject_token_file and subject_token_env are both set; a subject "
            "token has one source: remove one of them"
        )
    source = checked.get("subject_token_source")
    for key, kind in (("subject_token_file", "file"), ("subject_token_env", "env")):
        if checked.get(key) and source not in (None, kind):
            raise ConfigError(
                f"{where}: {key} is set but subject_token_source is {source!r}; set "
                f"subject_token_source = {kind!r} or remove {key}"
            )


# Keys that name a secret, compared case-insensitively with "-" read as "_":
# such a value belongs in the keyring, never in a plain (exportable) file.
_SECRET_KEYS = frozenset(
    {
        "secret",
        "client_secret",
        "password",
        "passwd",
        "passphrase",
        "token",
        "jwt",
        "access_token",
        "refresh_token",
        "id_token",
        "bearer",
        "bearer_token",
        "auth_token",
        "api_key",
        "apikey",
        "private_key",
        "credential",
        "credentials",
    }
)
_SECRET_SUFFIXES = ("_secret", "_password", "_token", "_jwt", "_api_key", "_private_key")


def is_secret_key(key: str) -> bool:
    """Whether a file key names a secret (``client-secret``, ``JWT``, ``access_token``…)."""
    normal = key.strip().lower().replace("-", "_")
    return normal in _SECRET_KEYS or normal.endswith(_SECRET_SUFFIXES)


def _refuse_forbidden(key: str, where: str, profile: str) -> None:
    if is_secret_key(key):
        raise ConfigError(
            f"{where}: {key!r} looks like a secret, and a secret must not be stored in a "
            "plain file; delete that line and store the client secret in the keyring with "
            f"`kaskada configure --profile {profile}`"
        )
    if key == "allow_insecure":
        raise ConfigError(
            f"{where}: allow_insecure cannot be set in a profile file (an imported file must "
            "not switch off TLS); delete that line and pass allow_insecure=True, "
            "KASKADA_ALLOW_INSECURE=1 or --allow-insecure where you need it"
        )


_CHOICES = {
    "secret_store": SECRET_STORES,
    "auth": _schema.AUTH_KINDS,
    "subject_token_source": _schema.SUBJECT_TOKEN_SOURCES,
}


def _check_text(key: str, value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _wrong_type(key, value, "a string", where)
    if not value:
        raise ConfigError(f"{where}: {key} is empty; give a value or remove the key")
    if len(value) > MAX_VALUE_LENGTH:
        raise ConfigError(
            f"{where}: {key} has {len(value)} characters, more than {MAX_VALUE_LENGTH}; "
            "check the value"
        )
    if _CONTROL.search(value):
        raise ConfigError(
            f"{where}: {key} contains a control character (newline, tab…); check the value"
        )


def _check_value(key: str, value: Any, where: str) -> Any:
    if key in _TEXT_KEYS:
        _check_text(key, value, where)
        if key == "endpoint":
            problem = endpoint_message(value, None)
            if problem is not None:
                raise ConfigError(f"{where}: {problem}")
        return value
    if key in ("secret_env", "subject_token_env"):
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            raise ConfigError(
                f"{where}: {key} must name an environment variable (letters, digits, _), "
                f"not {value!r}"
            )
        return value
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ConfigError(
                f"{where}: {key} must be one of {', '.join(_CHOICES[key])}, not {value!r}"
            )
        return value
    if key == "issuer":
        _check_text(key, value, where)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{where}: issuer must be an http(s) URL (the server whose metadata names "
                f"the endpoints), e.g. https://auth.example.com, not {value!r}"
            )
        return value
    if key == "secret_command":
        if (
            isinstance(value, str)
            or not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(part, str) and part for part in value)
        ):
            raise ConfigError(
                f"{where}: secret_command must be a list of program and arguments, e.g. "
                '["op", "read", "op://Private/kaskada/secret"] (no shell runs it)'
            )
        if any("\0" in part or len(part) > MAX_VALUE_LENGTH for part in value):
            raise ConfigError(f"{where}: secret_command has an unusable argument; check it")
        return tuple(value)
    if key in ("is_secure", "token_cache"):
        if not isinstance(value, bool):
            raise _wrong_type(key, value, "true or false", where)
        return value
    if key == "timeout":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(key, value, "a number of seconds", where)
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"{where}: timeout must be a positive number of seconds, not {value}")
        return seconds
    raise AssertionError(key)  # pragma: no cover - validate_fields checks the key first


def _wrong_type(key: str, value: Any, expected: str, where: str) -> ConfigError:
    return ConfigError(f"{where}: {key} must be {expected}, not {type(value).__name__}")


# --- parsing -----------------------------------------------------------------


def decode(path: Path, data: bytes) -> dict[str, Any]:
    """The TOML document in ``data``; ConfigError naming path and line when it is not one."""
    # Lazy: with no config file (a fresh install, CI on environment credentials) nothing
    # is parsed, and `profile list` does not load the parser.
    # tomli, not the stdlib's tomllib: the same parser (tomllib is tomli vendored), with
    # the same documents and errors, but its wheels are compiled (mypyc): a large file
    # parses about three times faster (bench/bench_profiles.py), paid by every
    # process's first resolution. Where no compiled wheel exists it is pure Python, as fast
    # as tomllib. It caps nesting at a depth (RecursionError, handled below).
    import tomli

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}, line {line}: not valid UTF-8; fix that line in an editor "
            "(kaskada never overwrites a file it cannot read)"
        ) from None
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as error:
        raise ConfigError(
            f"{path}: not valid TOML: {error}; fix it in an editor or move it away "
            "(kaskada never overwrites a file it cannot read)"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{path}: nested too deeply to read as TOML; fix it in an editor or move it "
            "away (kaskada never overwrites a file it cannot read)"
        ) from None


def parse(path: Path, document: Mapping[str, Any], *, lazy: bool = False) -> ConfigFile:
    """Validate a decoded document: the file-wide rules, then every profile.

    The file-wide rules always hold: the top-level shape, valid profile names,
    and no secret-like key anywhere (a secret must never sit in a plain file).
    ``lazy=True`` (reading, :func:`load`) checks each profile's values when that
    profile is first looked up or listed, as boto3 does: a mistake in one
    profile does not stop another (docs/profiles.md), and the first lookup
    among 1,000 profiles does not pay for 999 (bench/bench_session.py). Writes
    and imports validate the whole document (the default, ``lazy=False``).
    """
    default = document.get("default_profile")
    if default is not None:
        if not isinstance(default, str):
            kind = type(default).__name__
            raise ConfigError(f"{path}: default_profile must be a string, not {kind}")
        validate_profile_name(default, where=f"{path} (default_profile)")
    for key, value in document.items():
        if key != "profiles":
            _refuse_forbidden(key, str(path), "NAME")
            _refuse_nested_secrets(value, str(path), "NAME")
    tables = document.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table ([profiles.NAME] sections)")
    validate_profile_names(tables, where=str(path))
    for name, table in tables.items():
        if type(table) is not dict:
            raise ConfigError(f"{path}: profiles.{name} must be a table ([profiles.{name}])")
        # The common case, only known keys with plain values, holds no secret-like key.
        if not _PLAIN_KEYS.issuperset(table) or not _plain(table.values()):
            for key, value in table.items():
                _refuse_forbidden(key, f"{path}: profile {name!r}", name)
                _refuse_nested_secrets(value, f"{path}: profile {name!r}", name)
    profiles = Profiles(path, tables)
    if not lazy:
        for name in tables:
            profiles[name]
    return ConfigFile(path=path, default_profile=default, profiles=profiles)


_PLAIN_KEYS = frozenset(PROFILE_KEYS)
_PLAIN_TYPES = frozenset({str, bool, int, float})


def _plain(values: Iterable[Any]) -> bool:
    return _PLAIN_TYPES.issuperset(map(type, values))


class Profiles(Mapping[str, "Profile"]):
    """A file's profiles by name, each validated when first looked up (ConfigError then)."""

    __slots__ = ("_checked", "_path", "_tables")

    def __init__(self, path: Path, tables: Mapping[str, Mapping[str, Any]]) -> None:
        self._path = path
        self._tables = tables
        self._checked: dict[str, Profile] = {}

    def __getitem__(self, name: str) -> Profile:
        profile = self._checked.get(name)
        if profile is None:
            table = self._tables[name]
            where = f"{self._path}: profile {name!r}"
            profile = self._checked[name] = profile_from_table(name, table, where=where)
        return profile

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def __repr__(self) -> str:
        return f"Profiles({sorted(self._tables)!r})"


def profile_from_table(name: str, table: Mapping[str, Any], *, where: str) -> Profile:
    """A Profile from one TOML table; unknown keys go to ``extra``."""
    known = {key: value for key, value in table.items() if key in PROFILE_KEYS}
    extra = {key: value for key, value in table.items() if key not in PROFILE_KEYS}
    for key, value in extra.items():
        _refuse_forbidden(key, where, name)
        _refuse_nested_secrets(value, where, name)
    return Profile(name=name, **validate_fields(known, where=where, profile=name), extra=extra)


def _refuse_nested_secrets(value: Any, where: str, profile: str) -> None:
    """Secret-like keys inside unknown tables (``[profiles.x.auth] token = …``) too."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _refuse_forbidden(str(key), where, profile)
            _refuse_nested_secrets(inner, where, profile)
    elif isinstance(value, list):
        for inner in value:
            _refuse_nested_secrets(inner, where, profile)


def profile_table(profile: Profile) -> dict[str, Any]:
    """The TOML table of a profile: its settings, then the unknown keys it carried."""
    return {**toml_fields(profile.fields()), **profile.extra}


def toml_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Checked fields as TOML values (``secret_command`` is a tuple in memory, a list there)."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()
    }


# --- the cached reader -------------------------------------------------------

_Identity = tuple[int, int, int, int, int]
_cache: dict[str, tuple[_Identity | None, ConfigFile]] = {}
_path_for: dict[str | bytes | None, str] = {}
_warned: set[tuple[str, int]] = set()
# load_recent()'s last look: (KASKADA_CONFIG_DIR as stored, time.monotonic(), the file)
_recent: tuple[str | bytes | None, float, ConfigFile] | None = None

RECHECK_SECONDS = 0.25
"""How stale :func:`load_recent` may be: another process's edit is seen within this."""


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    _cache.clear()
    _path_for.clear()
    _warned.clear()
    recheck()


def recheck() -> None:
    """Make the next :func:`load_recent` look at the file (tests, or after an edit by hand)."""
    global _recent
    _recent = None


def _config_dir_raw() -> str | None:
    """KASKADA_CONFIG_DIR as set now (None: the platform's folder)."""
    return os.environ.get(_env.CONFIG_DIR)


def _current_path() -> str:
    override = _config_dir_raw()
    path = _path_for.get(override)
    if path is None:
        path = _path_for[override] = str(_paths.config_file())
    return path


def config_path() -> Path:
    """Where the config file is (or would be), without reading it."""
    return Path(_current_path())


def _identity(status: os.stat_result) -> _Identity:
    return (status.st_ino, status.st_dev, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def load_recent() -> ConfigFile:
    """:func:`load` as of at most RECHECK_SECONDS ago: the hot path of a memoised session.

    ``load()`` pays an ``os.stat`` on every call; this one reuses the last look at the
    file for RECHECK_SECONDS. This process's own writes (:func:`update`) drop
    the cached file at once; another process's edit is seen at the next check.
    """
    global _recent
    now = monotonic()
    raw = _config_dir_raw()
    recent = _recent
    if recent is not None and recent[0] == raw and now - recent[1] < RECHECK_SECONDS:
        return recent[2]
    config = load()  # raises for a broken file: nothing is kept then
    _recent = (raw, now, config)
    return config


def load() -> ConfigFile:
    """The current file, cached; re-read when it changed on disk."""
    path = _path_for.get(_config_dir_raw()) or _current_path()
    try:
        status = os.stat(path)
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check its permissions") from None
    cached = _cache.get(path)
    if cached is not None:
        identity = cached[0]
        if status is None:
            if identity is None:
                return cached[1]
        elif identity is not None and (
            status.st_mtime_ns == identity[3]
            and status.st_ino == identity[0]
            and status.st_size == identity[2]
            and status.st_ctime_ns == identity[4]
            and status.st_dev == identity[1]
        ):
            return cached[1]
    if status is None:
        fresh: tuple[_Identity | None, ConfigFile] = (
            None,
            ConfigFile(path=Path(path), default_profile=None, profiles={}),
        )
    else:
        fresh = _read(Path(path))
    _cache[path] = fresh
    return fresh[1]


def _read(path: Path) -> tuple[_Identity | None, ConfigFile]:
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            data = _read_capped(path, handle, status.st_size)
    except FileNotFoundError:
        return None, ConfigFile(path=path, default_profile=None, profiles={})
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check its permissions") from None
    _warn_if_open(path, status)
    return _identity(status), parse(path, decode(path, data), lazy=True)


def _read_capped(path: Path, handle: BinaryIO, size: int) -> bytes:
    """At most MAX_FILE_BYTES of ``handle``: a bigger file is refused before it is read."""
    if size <= MAX_FILE_BYTES:
        data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since fstat
        if len(data) <= MAX_FILE_BYTES:
            return data
    raise ConfigError(
        f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most kaskada reads "
        "(a profiles file is a few KiB); move it away or cut it down in an editor"
    )


def read_bytes(path: Path) -> bytes:
    """A profiles file's bytes, refused past MAX_FILE_BYTES; OSError as raised by ``open``."""
    with open(path, "rb") as handle:
        return _read_capped(path, handle, os.fstat(handle.fileno()).st_size)


# --- who else could have written it ------------------------------------------


def trust_problems(path: Path, *, file_mode: bool = True) -> list[str]:
    """Why another account could change ``path`` or swap it, each with its fix; [] if none.

    As ssh checks its files: the file and its folder must be owned by this user
    (or root) and writable by nobody else. On Windows the mode bits are
    synthesised and owners are ACLs: the user profile's ACLs protect the file
    there (see docs/profiles.md), so there is nothing meaningful to check here.
    ``file_mode=False`` leaves out the file's own mode (warned about separately).
    """
    if sys.platform == "win32":
        return []
    problems: list[str] = []
    me = os.geteuid()
    for target, private_mode in ((path.parent, "700"), (path, "600")):
        try:
            status = os.stat(target)
        except OSError:
            continue  # absent (nothing to trust yet) or unreadable (reading reports it)
        if status.st_uid not in (me, 0):
            problems.append(
                f"{target} is owned by another user (uid {status.st_uid}); "
                f"make it yours: chown {_user_name(me)} {target}"
            )
        if status.st_mode & 0o022 and (file_mode or target != path):
            problems.append(
                f"{target} is writable by other users (mode {status.st_mode & 0o777:o}); "
                f"make it private: chmod {private_mode} {target}"
            )
    return problems


def _user_name(uid: int) -> str:
    if sys.platform == "win32":  # pragma: no cover - trust_problems returns first
        return str(uid)
    import pwd  # POSIX only: Windows has no pwd (and returned above)

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_trusted() -> None:
    """Refuse to send any credential where a file another account could write says.

    As ssh refuses a config file others could write: a config file or folder that
    another user owns or can write could have been swapped for one that sends a
    credential to their endpoint. One rule for every credential a profile leads
    to: its stored secret (checked before it is read), a secret passed with
    ``profile=``, a cached token (both checked before a session's first token,
    ``Session.token_source``). Listing and showing profiles only warn.
    UntrustedConfigError names the path and the fix, on one line.
    """
    path = config_path()
    problems = trust_problems(path)
    if problems:
        raise UntrustedConfigError(
            f"refusing to send a credential where {path} says: " + "; also ".join(problems)
        )


def _warn_if_open(path: Path, status: os.stat_result) -> None:
    """Warn once per file and mode when group or others have access: it names accounts.

    Keyed by mode too, so a file opened up again after a fix warns again. A file
    or folder another account could write gets its own warning (sending a credential
    where it says is refused, see :func:`check_trusted`). Nothing on Windows: its
    mode bits are synthesised (the user profile's ACLs protect the file there).
    """
    if sys.platform == "win32":
        return
    mode = status.st_mode
    if mode & 0o077 and (str(path), mode) not in _warned:
        _warned.add((str(path), mode))
        log.warning(
            "%s is open to other users (mode %o); make it private: chmod 600 %s",
            path,
            mode & 0o777,
            path,
        )
    for problem in trust_problems(path, file_mode=False):
        if (problem, 0) not in _warned:
            _warned.add((problem, 0))
            log.warning(
                "%s; kaskada will not send a credential where this file says until then", problem
            )


def get_profile(name: str) -> Profile:
    """The named profile, or ProfileNotFoundError naming the known ones."""
    config = load()
    profile = config.profiles.get(name)
    if profile is not None:
        return profile
    validate_profile_name(name)
    raise profile_not_found(name, config.profiles, config.path)


def profile_not_found(name: str, known: Iterable[str], path: Path) -> ProfileNotFoundError:
    """The one "no such profile" error, for readers and writers alike: the name, the file,
    the profiles it does hold and how to create the missing one."""
    listed = ", ".join(sorted(known)) or "none"
    return ProfileNotFoundError(
        f"no profile {name!r} in {path} (known profiles: {listed}); "
        f"create it with `kaskada profile add {name} --client-id ID` or `kaskada configure "
        f"--profile {name}`"
    )


# --- the writer --------------------------------------------------------------


def read_document(path: Path) -> dict[str, Any]:
    """The file as a plain TOML document for rewriting; ``{}`` when it does not exist."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check its permissions") from None
    return decode(path, data)


def update(change: Callable[[dict[str, Any]], T]) -> T:
    """Apply ``change`` to the file's document under the lock and write it atomically.

    ``change`` edits the document in place (unknown keys stay as they are) and
    may raise to abort: then nothing is written. A corrupt file is never
    overwritten: decoding it raises first, and a result that ``load()`` would
    refuse (a change that leaves a bad setting elsewhere in the file in place)
    is not written either.
    """
    # Lazy: the writer's modules (tomli_w, and _atomic with tempfile) are not needed
    # for reading, i.e. every resolution and `profile list`.
    import tomli_w

    from kaskada.config import atomic as _atomic

    path = Path(_current_path())
    with _atomic.locked(path):
        document = read_document(path)
        result = change(document)
        if not document.get("profiles"):
            document.pop("profiles", None)
        parse(path, document)  # every profile, not lazily
        data = tomli_w.dumps(document).encode("utf-8")
        _atomic.remove_stale_temps(path)
        _atomic.atomic_write(path, data)
        recheck()  # load_recent() must not serve the old file
    return result
