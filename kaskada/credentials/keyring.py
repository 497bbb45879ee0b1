"""The one module that talks to the OS keyring.

Every call (including importing ``keyring`` and detecting its backend, which
may talk to D-Bus) runs in a daemon thread bounded by ``KASKADA_KEYRING_TIMEOUT``
seconds, so a locked or hung Secret Service turns into a KeyringTimeoutError
instead of a hung program. The ``fail`` and ``null`` backends mean "no
keyring": a secret is then never stored anywhere else. Secrets travel as
:class:`~kaskada._secret.Secret` and are scrubbed from any message.

An entry is a small JSON document, ``{"v": 2, "secret": ..., "binding": {...}}``:
the secret together with where it may go (see ``_binding``), so that editing or
replacing the config file cannot send it anywhere else. A bare password is an
entry stored by kaskada 0.1, read back with no binding (and refused for use).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from kaskada._errors import ConfigError, KeyringError, KeyringTimeoutError, NoKeyringError
from kaskada._secret import Secret, scrub
from kaskada.config import paths as _paths
from kaskada.settings import env as _env

DEFAULT_TIMEOUT = 5.0
_NO_KEYRING_MODULES = frozenset({"keyring.backends.fail", "keyring.backends.null"})
T = TypeVar("T")


ENTRY_VERSION = 2


class Entry(NamedTuple):
    """A stored secret and the binding it was stored with (``None``: stored by 0.1).

    A NamedTuple (not a frozen dataclass): defined at a process's first secret read.
    """

    secret: Secret
    binding: Mapping[str, Any] | None

    def __repr__(self) -> str:
        return f"Entry(secret={self.secret!r}, binding={self.binding!r})"


def encode_entry(secret: Secret, binding: Mapping[str, Any]) -> str:
    """The keyring password for ``secret`` bound to ``binding``."""
    return json.dumps(
        {"v": ENTRY_VERSION, "secret": secret.reveal(), "binding": dict(binding)},
        sort_keys=True,
        separators=(",", ":"),
    )


def decode_entry(raw: str) -> Entry:
    """A keyring password read back: a v2 document, else a bare 0.1 secret (no binding)."""
    if raw.startswith("{"):
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if (
            isinstance(document, dict)
            and document.get("v") == ENTRY_VERSION
            and isinstance(document.get("secret"), str)
            and isinstance(document.get("binding"), dict)
        ):
            return Entry(Secret(document["secret"]), document["binding"])
    return Entry(Secret(raw), None)


class _BackendAbort(Exception):
    """The backend raised a BaseException that is not an Exception (SystemExit, ...)."""


def ways_out() -> str:
    """The fixes every keyring error ends with, so no message leaves the user stuck."""
    return (
        "start and unlock a Secret Service (e.g. gnome-keyring), choose another backend "
        "with PYTHON_KEYRING_BACKEND (e.g. one from keyrings.alt), or supply the secret "
        "as KASKADA_CLIENT_SECRET"
    )


def timeout() -> float:
    """Seconds a keyring call may take: ``KASKADA_KEYRING_TIMEOUT``, default 5."""
    raw = os.environ.get(_env.KEYRING_TIMEOUT)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{_env.KEYRING_TIMEOUT}={raw!r} is not a positive number of seconds; "
            f"fix or unset it (default {DEFAULT_TIMEOUT:g})"
        )
    return value


def backend_name(backend: Any) -> str:
    """``module.Class`` of a backend; a chainer lists the backends it chains."""
    kind = type(backend)
    name = f"{kind.__module__}.{kind.__qualname__}"
    chained = getattr(backend, "backends", None)
    if kind.__module__ == "keyring.backends.chainer" and chained is not None:
        inner = ", ".join(backend_name(item) for item in chained) or "nothing"
        name = f"{name} of {inner}"
    return name


def _backend() -> Any:
    """The keyring backend in force; NoKeyringError for ``fail``/``null``."""
    import keyring  # costly to import (its backends): only when a secret is read or written

    backend = keyring.get_keyring()
    chained = getattr(backend, "backends", None)
    if type(backend).__module__ in _NO_KEYRING_MODULES or chained == []:
        raise NoKeyringError("there is no usable keyring backend")
    return backend


def _bounded(action: str, call: Callable[[], T]) -> T:
    """Run ``call`` in a daemon thread; KeyringTimeoutError when it outlives the timeout."""
    limit = timeout()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as error:
            outcome.append((False, error))

    worker = threading.Thread(target=run, name="kaskada-keyring", daemon=True)
    worker.start()
    worker.join(limit)
    if not outcome:
        raise KeyringTimeoutError(
            f"the keyring did not answer within {limit:g} s while trying to {action} "
            f"(backend {_backend_name_quietly()}); it may be locked or hung: unlock it, "
            f"raise {_env.KEYRING_TIMEOUT}, or {ways_out()}"
        )
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    if not isinstance(value, Exception):
        # In the worker thread SystemExit or KeyboardInterrupt is the backend's doing, not
        # the user's: it must become an error with a message, not end the program silently.
        raise _BackendAbort(f"the backend raised {type(value).__name__}({value})")
    raise value


def _backend_name_quietly() -> str:
    """The backend's name for a message, without waiting on a hung keyring module."""
    module = sys.modules.get("keyring.core")
    current = getattr(module, "_keyring_backend", None) if module else None
    if current is not None:
        return backend_name(current)
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND")
    if chosen:
        return f"PYTHON_KEYRING_BACKEND={chosen!r}, not loaded"
    return "not yet detected"


def _fail(action: str, name: str, error: BaseException, secret: Secret | None) -> KeyringError:
    """A KeyringError naming backend, profile and the ways out; the secret scrubbed."""
    if isinstance(error, KeyringError) and not isinstance(error, NoKeyringError):
        return error
    if isinstance(error, NoKeyringError | _BackendAbort):
        reason = str(error)
    else:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    reason = scrub(reason, secret)
    kind = NoKeyringError if isinstance(error, NoKeyringError) else KeyringError
    return kind(
        f"cannot {action} the secret of profile {name!r} in the keyring "
        f"(backend {_backend_name_quietly()}; service {_paths.keyring_service()!r}): "
        f"{reason}; {ways_out()}"
    )


def get_entry(name: str) -> Entry | None:
    """The entry stored for profile ``name`` (secret and binding), or None when there is none."""

    def call() -> Entry | None:
        value = _backend().get_password(_paths.keyring_service(), name)
        return None if value is None else decode_entry(value)

    try:
        return _bounded(f"read the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("read", name, error, None) from None


def get_secret(name: str) -> Secret | None:
    """The secret stored for profile ``name``, or None when there is none."""
    entry = get_entry(name)
    return None if entry is None else entry.secret


def set_secret(name: str, secret: Secret, binding: Mapping[str, Any]) -> None:
    """Store ``secret`` for profile ``name`` bound to ``binding`` (replacing any previous one)."""
    if not secret:
        raise KeyringError(f"refusing to store an empty secret for profile {name!r}")
    password = encode_entry(secret, binding)

    def call() -> None:
        _backend().set_password(_paths.keyring_service(), name, password)

    try:
        _bounded(f"store the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("store", name, error, secret) from None


def set_entry(name: str, entry: Entry) -> None:
    """Put back an entry as it was read (undo, rename); a 0.1 entry stays bare."""
    if entry.binding is not None:
        set_secret(name, entry.secret, entry.binding)
        return

    def call() -> None:
        _backend().set_password(_paths.keyring_service(), name, entry.secret.reveal())

    try:
        _bounded(f"store the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("store", name, error, entry.secret) from None


def delete_secret(name: str) -> bool:
    """Delete the secret of profile ``name``; False when there was none."""

    def call() -> bool:
        from keyring.errors import PasswordDeleteError  # keyring: costly, only when used

        backend = _backend()
        service = _paths.keyring_service()
        if backend.get_password(service, name) is None:
            return False
        try:
            backend.delete_password(service, name)
        except PasswordDeleteError:
            return False
        return True

    try:
        return _bounded(f"delete the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("delete", name, error, None) from None


def describe_backend() -> str:
    """The backend's name (for ``profile show`` and troubleshooting); never raises."""

    def call() -> str:
        import keyring  # costly to import (its backends): only when asked

        return backend_name(keyring.get_keyring())

    try:
        return _bounded("detect the keyring backend", call)
    except Exception as error:
        return f"unusable ({type(error).__name__})"


def memory_backend(store: dict[tuple[str, str], str] | None = None) -> Any:
    """A keyring backend that keeps secrets in ``store`` (a dict) and nowhere else.

    For the demo on a machine without a keyring, unit tests and benchmarks: never
    chosen automatically, so a real profile never ends up in memory by accident.
    """
    from keyring.backend import KeyringBackend  # keyring: costly, only when used
    from keyring.errors import PasswordDeleteError  # keyring: costly, only when used

    secrets: dict[tuple[str, str], str] = {} if store is None else store

    class MemoryKeyring(KeyringBackend):
        priority = 1
        # keyring's detection weighs every backend class created so far: without this,
        # a process with no Secret Service that made one would pick memory on its own.
        viable = False

        def get_password(self, service: str, username: str) -> str | None:
            return secrets.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            secrets[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if secrets.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")

    return MemoryKeyring()  # type: ignore[no-untyped-call]
