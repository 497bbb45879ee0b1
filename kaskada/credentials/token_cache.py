"""The access-token cache on disk, shared by every kaskada process of the user.

One sign-in per machine, not per process: a warm ``kaskada table list`` reads a
file instead of importing keyring, reading the secret and exchanging it.

- Where: ``platformdirs.user_cache_dir("kaskada")`` (``KASKADA_CACHE_DIR`` moves
  it), never the config folder. Off with ``KASKADA_TOKEN_CACHE=0`` or a profile's
  ``token_cache = false``.
- One entry per (token endpoint, client id, audience, API endpoint, is_secure,
  ca_bundle) -- a cached token only goes where the secret that bought it was
  bound to go -- and per secret: a profile's keyring entry (service, profile
  name), or the hash of an explicit secret, so a profile or secret that never
  signed in (a wrong secret for the same client id) cannot borrow a token. The
  file is named by the SHA-256 of all that.
- 0600 files in a 0700 folder, opened without following symlinks; a folder or
  file that others can write or that another user owns is never used (a miss,
  with one warning). Writes are atomic (temp + fsync + ``os.replace``) under a
  per-entry ``filelock``; a corrupt, truncated or unreadable entry is a miss.
- Single-flight across processes: a cold caller takes the entry's lock, reads
  again, and only then exchanges; the others wait (bounded) and read its token.

Times on disk are wall-clock (epoch seconds); in memory they are monotonic
(``_access_token.Token``): conversion happens here, with the in-process refresh margin.
Both come from ``_clock`` (the clock tests move), never ``time`` directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kaskada import _clock
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config import paths as _paths
from kaskada.credentials.access_token import Token, refresh_margin
from kaskada.credentials.stores import KeyringStore
from kaskada.settings import defaults as _defaults
from kaskada.settings import env as _env
from kaskada.settings import parse as _values
from kaskada.settings import values as _settings
from kaskada.settings.values import Settings, SignIn, StoredSecret

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIX = ".json"
LOCK_SUFFIX = ".lock"
TEMP_SUFFIX = ".tmp"
MAX_ENTRY_BYTES = 64 * 1024
LOCK_GRACE = 5.0  # seconds past the exchange timeout a waiter gives the lock holder
CLOCK_SLACK = 60.0

_warned: set[str] = set()
_POSIX = os.name == "posix"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


# --- where and whether ---------------------------------------------------------


def cache_dir() -> Path:
    """The cache folder: ``KASKADA_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get(_env.CACHE_DIR)
    if override:
        return Path(override).expanduser()
    import platformdirs  # costly to import: not with KASKADA_CACHE_DIR

    return Path(platformdirs.user_cache_dir("kaskada", appauthor=False))


def enabled_by_env() -> bool:
    """``KASKADA_TOKEN_CACHE=0`` (or false/no/off) turns the cache off."""
    raw = os.environ.get(_env.TOKEN_CACHE)
    return not (raw and raw.strip().lower() in _env.FALSE_WORDS)


def entry_key(
    token_url: str,
    client_id: str,
    audience: str | None,
    endpoint: str,
    is_secure: bool,
    ca_bundle: str | None,
    secret_hash: str | None = None,
) -> str:
    """The SHA-256 hex name of an entry: a hash of where its token may go."""
    material = json.dumps(
        [token_url, client_id, audience, endpoint, is_secure, ca_bundle, secret_hash]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class Entry:
    """One cache file: read, locked, written and dropped by its key."""

    __slots__ = ("folder", "key", "lock_timeout", "profile")

    def __init__(self, key: str, *, profile: str | None, lock_timeout: float) -> None:
        self.key: str = key
        self.profile: str | None = profile
        self.folder: Path = cache_dir()
        self.lock_timeout: float = lock_timeout

    @property
    def path(self) -> Path:
        return self.folder / (self.key + SUFFIX)

    # -- reading -----------------------------------------------------------

    def read(self) -> Token | None:
        """The cached token if valid and not due for refresh; None for any miss."""
        if not _folder_usable(self.folder, create=False):
            return None
        document = _read_json(self.path)
        if document is None:
            return None
        return _to_token(document, self.key)

    # -- writing -----------------------------------------------------------

    def write(self, token: Token) -> None:
        """Store ``token`` atomically (best effort: a failure is logged, never raised)."""
        if not _folder_usable(self.folder, create=True):
            return
        clock = _clock.get()
        remaining = token.expires_at - clock.monotonic()
        now = clock.time()
        document = {
            "version": FORMAT_VERSION,
            "key": self.key,
            "profile": self.profile,
            "access_token": token.access_token.reveal(),
            "token_type": token.token_type,
            "lifetime": token.lifetime,
            "created_at": now,
            "expires_at": now + remaining,
        }
        data = json.dumps(document).encode("utf-8")
        try:
            _atomic_write(self.path, data)
        except OSError as error:
            log.debug("token cache: cannot write %s: %s", self.path, error.strerror)

    def drop(self) -> None:
        """Delete the entry (its lock file stays: unlinking a lock races with waiters)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[bool]:
        """Hold the entry's lock; yields False when it could not be taken (then go on)."""
        if not _folder_usable(self.folder, create=True):
            yield False
            return
        lock_path = self.folder / (self.key + LOCK_SUFFIX)
        try:
            if stat.S_ISLNK(os.lstat(lock_path).st_mode):
                _warn_once(
                    f"link:{lock_path}",
                    "token cache: %s is a symbolic link; not using it (delete it)",
                    lock_path,
                )
                yield False
                return
        except FileNotFoundError:
            pass
        except OSError:
            yield False
            return
        import filelock  # costly to import: only a miss or a write takes the lock

        lock = filelock.FileLock(str(lock_path), timeout=self.lock_timeout, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            log.debug("token cache: %s stayed locked; exchanging without it", lock_path)
            yield False
            return
        except OSError as error:
            log.debug("token cache: cannot lock %s: %s", lock_path, error.strerror)
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    # -- the single-flight fetch ---------------------------------------------

    def fetch(self, exchange: Callable[[], Token], rejected: Secret | None) -> Token:
        """A valid token: the cached one, else one exchange (one process at a time).

        ``rejected`` is a token the API refused: it is dropped, never returned.
        """
        if rejected is None:
            found = self.read()
            if found is not None:
                return found
        with self.locked():
            found = self.read()
            if found is not None and (rejected is None or found.access_token != rejected):
                log.debug("token cache: hit for %s after waiting", self.key[:12])
                return found
            if found is not None:
                self.drop()
            token = exchange()
            self.write(token)
            return token


# --- files -----------------------------------------------------------------------


def _owner_ok(status: os.stat_result) -> bool:
    if sys.platform == "win32":
        return True  # no uid: the folder lives in the user's own profile
    return status.st_uid == os.getuid()


def _folder_usable(folder: Path, *, create: bool) -> bool:
    """A real 0700-ish folder of ours; created 0700 when asked. Warns once when refused."""
    try:
        status = os.lstat(folder)
    except FileNotFoundError:
        if not create:
            return False
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(folder, 0o700)  # the umask can only narrow it
        except FileExistsError:
            pass
        except OSError as error:
            _warn_once(
                f"mkdir:{folder}",
                "token cache: cannot create %s (%s); tokens are not cached",
                folder,
                error.strerror,
            )
            return False
        return _folder_usable(folder, create=False)
    except OSError:
        return False
    if not stat.S_ISDIR(status.st_mode):
        _warn_once(
            f"dir:{folder}",
            "token cache: %s is not a folder (a symbolic link?); tokens are not cached: "
            "remove it or set KASKADA_CACHE_DIR",
            folder,
        )
        return False
    if _POSIX and (not _owner_ok(status) or status.st_mode & 0o022):
        _warn_once(
            f"dir:{folder}",
            "token cache: %s is writable by others or owned by another user (mode %o); "
            "tokens are not cached: chmod 700 it or set KASKADA_CACHE_DIR",
            folder,
            status.st_mode & 0o777,
        )
        return False
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return None  # absent, a symbolic link (ELOOP) or unreadable: a miss
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None
        if _POSIX and (not _owner_ok(status) or status.st_mode & 0o077):
            _warn_once(
                f"file:{path}",
                "token cache: %s is open to others or owned by another user (mode %o); "
                "not using it",
                path,
                status.st_mode & 0o777,
            )
            return None
        data = os.read(descriptor, MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    if len(data) > MAX_ENTRY_BYTES:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        log.debug("token cache: %s is corrupt; treating it as a miss", path.name)
        return None
    return document if isinstance(document, dict) else None


def _to_token(document: Mapping[str, Any], key: str) -> Token | None:
    """A Token (monotonic times) from a stored document, or None when unusable or due."""
    token = document.get("access_token")
    lifetime: Any = document.get("lifetime")
    expires: Any = document.get("expires_at")
    created: Any = document.get("created_at")
    if (
        document.get("version") != FORMAT_VERSION
        or document.get("key") != key
        or not isinstance(token, str)
        or not token
        or not token.isascii()
        or not token.isprintable()
        or any(
            isinstance(value, bool) or not isinstance(value, int | float)
            for value in (lifetime, expires, created)
        )
    ):
        return None
    clock = _clock.get()
    now = clock.time()
    remaining = float(expires) - now
    lifetime = float(lifetime)
    skewed = created > now + CLOCK_SLACK or remaining > lifetime + CLOCK_SLACK
    if not 0 < lifetime < 10**9 or skewed:
        return None  # nonsense, or a clock that went backwards: exchange again
    margin = refresh_margin(lifetime)
    if remaining <= margin:
        return None
    mono = clock.monotonic()
    return Token(
        access_token=Secret(token),
        token_type="Bearer",
        lifetime=lifetime,
        refresh_at=mono + remaining - margin,
        expires_at=mono + remaining,
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file (0600 from mkstemp) in the same folder, fsync, ``os.replace``."""
    import tempfile  # only on a write: a warm read stays cheap
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


# --- from settings and profiles ---------------------------------------------------


def for_settings(settings: Settings) -> Entry | None:
    """The cache entry for a session's credentials, or None when caching is off."""
    if not enabled_by_env() or settings.token.value is not None:
        return None
    client_id = settings.client_id.value
    url = settings.exchange_endpoint.value
    secret = settings.client_secret.value
    # A profile's StoredSecret fingerprints where it is stored (service, profile, client
    # id), reading nothing; an explicit secret, its value; a device, federated or command
    # sign-in, who signs in (SignIn.fingerprint). Either way a profile or a secret that
    # never signed in cannot borrow another one's token (same client id).
    if secret is not None:
        secret_hash = secret.fingerprint()
    elif settings.auth.value.kind in ("device", "federated", "command"):
        secret_hash = settings.auth.value.fingerprint()
    else:
        return None
    if client_id is None or url is None:
        return None
    name = settings.profile.value
    if name is not None and not _profile_allows(name):
        return None
    key = entry_key(
        url,
        client_id,
        settings.audience.value,
        settings.endpoint.value,
        settings.is_secure.value,
        settings.ca_bundle.value,
        secret_hash,
    )
    return Entry(key, profile=name, lock_timeout=settings.timeout.value + LOCK_GRACE)


def _profile_allows(name: str) -> bool:
    try:
        return _config.get_profile(name).token_cache is not False
    except Exception:
        return True


def require_secret_unless_cached(settings: Settings) -> None:
    """On a cold cache, read the profile's secret now, so a missing one fails at init().

    On a warm cache the secret is left unread (no keyring import at all).
    """
    secret = settings.client_secret.value
    if not isinstance(secret, StoredSecret):
        return
    entry = for_settings(settings)
    if entry is None or entry.read() is None:
        KeyringStore(secret).get()


def profile_key(name: str, table: Mapping[str, Any] | None) -> str | None:
    """The entry key a profile (a raw TOML table) uses without overrides; None if unusable."""
    if not isinstance(table, Mapping):
        return None
    try:
        profile = _config.profile_from_table(name, table, where=f"profile {name!r}")
        fields = _values.profile_fields(profile, "profile")
        safe = {"allow_insecure": _settings.Sourced(True, "token cache")}
        settings = _defaults.complete("profile", fields, safe, {})
    except Exception:
        return None
    client_id = settings.client_id.value
    if client_id is None or settings.exchange_endpoint.value is None:
        return None
    return entry_key(
        settings.exchange_endpoint.value,
        client_id,
        settings.audience.value,
        settings.endpoint.value,
        settings.is_secure.value,
        settings.ca_bundle.value,
        _who_signs_in(profile, client_id),
    )


def _who_signs_in(profile: _config.Profile, client_id: str) -> str:
    """The fingerprint resolution gives a profile's sign-in (see ``for_settings``)."""
    own = tuple(profile.fields().items())
    service = _paths.keyring_service()
    if profile.auth in ("device", "federated"):
        return SignIn(profile.auth, profile.name, service).fingerprint()
    if profile.secret_command and _config.store_of(profile.fields()) == "command":
        return SignIn("command", profile.name, service, None, None, profile.secret_command,
                      own).fingerprint()
    return StoredSecret(profile.name, client_id, service, own).fingerprint()


def forget_profile(name: str, table: Mapping[str, Any] | None = None) -> int:
    """Drop the entries of profile ``name`` (its fields' key, and any it wrote); how many."""
    folder = cache_dir()
    if not _folder_usable(folder, create=False):
        return 0
    dropped = 0
    key = profile_key(name, table)
    try:
        names = [entry for entry in os.listdir(folder) if entry.endswith(SUFFIX)]
    except OSError:
        return 0
    for file_name in names:
        path = folder / file_name
        if file_name == f"{key}{SUFFIX}":
            hit = True
        else:
            document = _read_json(path)
            hit = document is not None and document.get("profile") == name
        if hit:
            with contextlib.suppress(OSError):
                os.unlink(path)
                dropped += 1
    return dropped


def forget_all() -> int:
    """Drop every cached token (``kaskada logout --all``); how many."""
    folder = cache_dir()
    if not _folder_usable(folder, create=False):
        return 0
    dropped = 0
    with contextlib.suppress(OSError):
        for file_name in os.listdir(folder):
            if file_name.endswith(SUFFIX) or file_name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(folder / file_name)
                    dropped += file_name.endswith(SUFFIX)
    return dropped


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    _warned.clear()
