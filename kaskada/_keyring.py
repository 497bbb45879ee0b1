"""The one module that talks to the OS keyring.

Every call (including importing ``keyring`` and detecting its backend, which
may talk to D-Bus) runs in a daemon thread bounded by ``KASKADA_KEYRING_TIMEOUT``
seconds, so a locked or hung Secret Service turns into a KeyringTimeoutError
instead of a hung program. The ``fail`` and ``null`` backends mean "no
keyring": a secret is then never stored anywhere else. Secrets travel as
:class:`~kaskada._secret.Secret` and are scrubbed from any message.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kaskada import _env, _paths
from kaskada._errors import ConfigError, KeyringError, KeyringTimeoutError
from kaskada._secret import MASK, Secret

DEFAULT_TIMEOUT = 5.0
_NO_KEYRING_MODULES = frozenset({"keyring.backends.fail", "keyring.backends.null"})
T = TypeVar("T")


class NoKeyringError(KeyringError):
    """No usable backend at all (``fail``/``null``): nothing can have been stored."""


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
    import keyring

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
    raise value


def _backend_name_quietly() -> str:
    """The backend's name for a message, without waiting on a hung keyring module."""
    import sys

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
    if isinstance(error, NoKeyringError):
        reason = str(error)
    else:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if secret is not None and secret.reveal():
        reason = reason.replace(secret.reveal(), MASK)
    kind = NoKeyringError if isinstance(error, NoKeyringError) else KeyringError
    return kind(
        f"cannot {action} the secret of profile {name!r} in the keyring "
        f"(backend {_backend_name_quietly()}; service {_paths.keyring_service()!r}): "
        f"{reason}; {ways_out()}"
    )


def get_secret(name: str) -> Secret | None:
    """The secret stored for profile ``name``, or None when there is none."""

    def call() -> Secret | None:
        value = _backend().get_password(_paths.keyring_service(), name)
        return None if value is None else Secret(value)

    try:
        return _bounded(f"read the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("read", name, error, None) from None


def set_secret(name: str, secret: Secret) -> None:
    """Store ``secret`` for profile ``name`` (replacing any previous one)."""

    def call() -> None:
        _backend().set_password(_paths.keyring_service(), name, secret.reveal())

    try:
        _bounded(f"store the secret of profile {name!r}", call)
    except Exception as error:
        raise _fail("store", name, error, secret) from None


def delete_secret(name: str) -> bool:
    """Delete the secret of profile ``name``; False when there was none."""

    def call() -> bool:
        from keyring.errors import PasswordDeleteError

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
        import keyring

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
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    secrets: dict[tuple[str, str], str] = {} if store is None else store

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def get_password(self, service: str, username: str) -> str | None:
            return secrets.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            secrets[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if secrets.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")

    return MemoryKeyring()  # type: ignore[no-untyped-call]
