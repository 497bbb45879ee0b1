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

import functools
import json
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from kaskada._errors import (
    ConfigError,
    KeyringError,
    KeyringTimeoutError,
    NoKeyringError,
    PlainTextKeyringError,
)
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


def ways_out(name: str | None = None) -> str:
    """The ways on that need no keyring, each a command to copy (and the keyring fixes),
    so no message leaves the user stuck. Never suggests the backend already in use."""
    profile = name or "NAME"
    exists = device = False
    if name is not None:
        try:
            from kaskada.config import file as _config  # reads only the (cached) file

            found = _config.load().profiles.get(name)
            exists, device = found is not None, found is not None and found.auth == "device"
        except Exception:
            exists = False
    if device:  # a rotating refresh token: only a store kaskada can write back to
        return (
            f"a device login keeps a refresh token that the server rotates at each use, so it "
            f"needs a store kaskada can write: a plain-text file (0600, opt-in): `kaskada "
            f"profile set {profile} secret_store file --insecure-storage`, then `kaskada login "
            f"--profile {profile}`. Or start and unlock a Secret Service (e.g. gnome-keyring)"
        )
    variable = f"{profile.upper().replace('-', '_').replace('.', '_')}_KASKADA_SECRET"
    if exists:
        env_way = (
            f"`kaskada profile set {profile} secret_env {variable}` then `export {variable}=…`"
        )
        command_way = (
            f"`kaskada profile set {profile} secret_command 'pass show kaskada/{profile}'` "
            "(any program that prints the secret)"
        )
    else:
        env_way = (
            f"`kaskada profile add {profile} --client-id ID --secret-env {variable}` then "
            f"`export {variable}=…`"
        )
        command_way = (
            f"`kaskada profile add {profile} --client-id ID --secret-command "
            f"'pass show kaskada/{profile}'` (any program that prints the secret)"
        )
    circle = ""
    if name is not None and os.environ.get(_env.CLIENT_SECRET):
        circle = (
            f"{_env.CLIENT_SECRET} is set, but a profile never takes its secret from another "
            f"layer: `kaskada profile set {profile} secret_env {_env.CLIENT_SECRET}` makes it "
            f"this profile's, or leave the profile out and set {_env.CLIENT_ID} too; other "
        )
        if not exists:
            circle = ""
    in_use = _backend_name_quietly()
    other = (
        "" if "keyrings.alt" in in_use else ", or choose another with PYTHON_KEYRING_BACKEND"
    )
    return (
        f"{circle}ways that need no keyring: a variable per profile: {env_way}; a command: "
        f"{command_way}; a plain-text file (0600, opt-in): `kaskada configure --profile "
        f"{profile} --insecure-storage`; or no profile at all: `export KASKADA_CLIENT_ID=ID "
        "KASKADA_CLIENT_SECRET=…` (with KASKADA_API_ENDPOINT and KASKADA_AUTH_ENDPOINT for "
        f"a remote server). Or start and unlock a Secret Service (e.g. gnome-keyring){other}"
    )


# Backends known to keep secrets readable as plain text: they count as the `file`
# store, refused unless the profile opted in (and then kaskada's own file is used).
_PLAIN_TEXT_BACKENDS = frozenset(
    {
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.pyfs.PlaintextKeyring",
        "keyrings.cryptfile.file.PlaintextKeyring",
    }
)
# Backends that may ask for their own password on the terminal (file-based and
# encrypted): no timeout cuts a prompt a person is answering.
_PROMPTING_BACKENDS = frozenset(
    {
        "keyrings.alt.file.EncryptedKeyring",
        "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        "keyrings.cryptfile.file.EncryptedKeyring",
    }
)


def _kinds(backend: Any) -> list[str]:
    """``module.Class`` of a backend and of every backend it chains."""
    kind = type(backend)
    names = [f"{kind.__module__}.{kind.__qualname__}"]
    for inner in getattr(backend, "backends", None) or ():
        names.extend(_kinds(inner))
    return names


def plain_text_file(backend: Any) -> str | None:
    """Where a plain-text backend keeps what kaskada would store (``file_path``); None for
    any other. A chainer stores through its first backend, so that one decides."""
    chained = getattr(backend, "backends", None)
    if chained:
        return plain_text_file(chained[0])
    if _kinds(backend)[0] not in _PLAIN_TEXT_BACKENDS:
        return None
    path = getattr(backend, "file_path", None)
    return path if isinstance(path, str) else "a file of the backend"


def prompts(backend: Any) -> bool:
    """Whether a backend may ask for its own password on the terminal."""
    return any(name in _PROMPTING_BACKENDS for name in _kinds(backend))


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
    path = plain_text_file(backend)
    if path is not None:
        raise PlainTextKeyringError(_plain_text_refusal(backend, path))
    return backend


def _plain_text_refusal(backend: Any, path: str) -> str:
    return (
        f"the keyring backend {backend_name(backend)} keeps secrets as plain text in "
        f"{path}, so kaskada does not use it (a plain-text secret needs the profile's "
        "opt-in, --insecure-storage, and then goes to kaskada's own 0600 file)"
    )


def _members(backend: Any) -> list[Any]:
    """The backends a call really goes to: a chainer's members in its order (highest
    priority first), any other backend alone. keyring's chainer reads from the first
    member that holds the item and writes to the first that accepts the write, so each
    member is judged on its own (finding F12: a chain led by a working Secret Service
    was refused because a later member asks for a password)."""
    chained = getattr(backend, "backends", None)
    if type(backend).__module__ == "keyring.backends.chainer" and chained is not None:
        return list(chained)
    return [backend]


def _chain(action: str) -> list[Any]:
    """The members of the backend in force, detected within the timeout (detection may
    talk to D-Bus); raises why there is none. Once keyring has chosen its backend,
    asking again is a lookup: no thread for it then."""
    module = sys.modules.get("keyring.core")
    if getattr(module, "_keyring_backend", None) is not None:
        return _members(_backend())
    return _members(_threaded(f"{action} (detecting the keyring backend)", _backend))


def _readers(action: str) -> list[Any]:
    """The members a read may consult: a plain-text member after the first is skipped
    (kaskada never reads plain text it did not opt into; a plain-text first member is
    refused by ``_backend``)."""
    return [member for member in _chain(action) if plain_text_file(member) is None]


def _on(action: str, member: Any, call: Callable[[], T]) -> T:
    """Run ``call`` against one backend: a prompting one at the terminal with no timeout
    (a person may be typing) and its mode restored, any other bounded in time."""
    if prompts(member):
        return _prompting(action, member, call)
    return _threaded(action, call)


def _holds(member: Any, service: str, name: str) -> bool:
    """Whether a prompting file keyring holds the item, read from its file without its
    password (keyrings.alt/cryptfile keep service and user names in clear ini sections;
    only the values are encrypted). True when that cannot be told, so the member is
    asked (and prompts) as keyring itself would."""
    path = getattr(member, "file_path", None)
    if not isinstance(path, str):
        return True
    if not os.path.exists(path):
        return False
    import configparser
    import importlib

    package = type(member).__module__.rsplit(".", 1)[0]
    try:
        escape = importlib.import_module(f"{package}.escape").escape
        config = configparser.RawConfigParser()
        config.read(path, encoding="utf-8")
        return bool(config.has_option(escape(service), escape(name)))
    except Exception:
        return True


def _read(action: str, name: str) -> tuple[Any, str] | None:
    """The first member holding profile ``name``'s item and the item, as keyring's
    chainer reads; a prompting member that does not hold it is never asked (no prompt
    for an item that is elsewhere or nowhere)."""
    service = _paths.keyring_service()
    for member in _readers(action):
        if prompts(member) and not _holds(member, service, name):
            continue
        value = _on(action, member, functools.partial(member.get_password, service, name))
        if value is not None:
            return member, value
    return None


def _write(action: str, name: str, password: str) -> None:
    """Store through the first member that accepts the write, as keyring's chainer does
    (it moves on only on NotImplementedError); a plain-text member there is refused."""
    service = _paths.keyring_service()
    for member in _chain(action):
        path = plain_text_file(member)
        if path is not None:
            raise PlainTextKeyringError(_plain_text_refusal(member, path))
        try:
            _on(action, member, functools.partial(member.set_password, service, name, password))
        except NotImplementedError:
            continue
        return
    raise NoKeyringError("no backend of the keyring accepts a write")


def _prompting(action: str, backend: Any, call: Callable[[], T]) -> T:
    """Run a call that may prompt on the terminal: refused with the reason when no person
    is at one, else with no timeout and the terminal's mode restored afterwards."""
    why = _no_terminal()
    if why is not None:
        raise NoKeyringError(
            f"the keyring backend {backend_name(backend)} asks for its own password on a "
            f"terminal, and {why}; unlock it from a terminal first, or use a store that "
            "asks nothing"
        )
    with _terminal_restored():
        try:
            return call()
        except EOFError:
            raise KeyringError(
                f"the keyring backend {backend_name(backend)} asked for its password and "
                "read the end of input (no password typed)"
            ) from None


def _no_terminal() -> str | None:
    """Why no person can answer a prompt here (None: one can, through /dev/tty)."""
    if sys.platform == "win32":
        return None if sys.stdin is not None and sys.stdin.isatty() else "stdin is no console"
    try:
        descriptor = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError as error:
        return f"this process has no terminal (/dev/tty: {error.strerror})"
    os.close(descriptor)
    attached = any(
        stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr)
    )
    if not attached:
        return "neither its input nor its error output is a terminal (nobody sees a prompt)"
    return None


def _terminal_restored() -> Any:
    """A context that puts the terminal's mode back as it was (echo on after a prompt)."""
    import contextlib

    @contextlib.contextmanager
    def restored() -> Any:
        if sys.platform == "win32":
            yield
            return
        import termios  # POSIX only

        try:
            descriptor = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            yield
            return
        try:
            saved = termios.tcgetattr(descriptor)
        except termios.error:
            os.close(descriptor)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(descriptor, termios.TCSAFLUSH, saved)
            os.close(descriptor)

    return restored()


def _threaded(action: str, call: Callable[[], T]) -> T:
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
            f"raise {_env.KEYRING_TIMEOUT}; {ways_out()}"
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
    kind = type(error) if isinstance(error, NoKeyringError) else KeyringError
    backend = _backend_name_quietly()
    named = "" if backend in reason else f"backend {backend}; "
    return kind(
        f"cannot {action} the secret of profile {name!r} in the keyring "
        f"({named}service {_paths.keyring_service()!r}): {reason}; {ways_out(name)}"
    )


def get_entry(name: str) -> Entry | None:
    """The entry stored for profile ``name`` (secret and binding), or None when there is none."""

    try:
        found = _read(f"read the secret of profile {name!r}", name)
        return None if found is None else decode_entry(found[1])
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
    try:
        _write(f"store the secret of profile {name!r}", name, password)
    except Exception as error:
        raise _fail("store", name, error, secret) from None


def set_entry(name: str, entry: Entry) -> None:
    """Put back an entry as it was read (undo, rename); a 0.1 entry stays bare."""
    if entry.binding is not None:
        set_secret(name, entry.secret, entry.binding)
        return
    try:
        _write(f"store the secret of profile {name!r}", name, entry.secret.reveal())
    except Exception as error:
        raise _fail("store", name, error, entry.secret) from None


def delete_secret(name: str) -> bool:
    """Delete the secret of profile ``name``; False when there was none."""

    action = f"delete the secret of profile {name!r}"
    try:
        found = _read(action, name)
        if found is None:
            return False
        from keyring.errors import PasswordDeleteError  # keyring: costly, only when used

        member = found[0]
        try:
            _on(action, member, lambda: member.delete_password(_paths.keyring_service(), name))
        except PasswordDeleteError:
            return False
        return True
    except Exception as error:
        raise _fail("delete", name, error, None) from None


def describe_backend() -> str:
    """The backend's name (for ``profile show`` and troubleshooting); never raises."""

    def call() -> str:
        import keyring  # costly to import (its backends): only when asked

        return backend_name(keyring.get_keyring())

    try:
        return _threaded("detect the keyring backend", call)
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
