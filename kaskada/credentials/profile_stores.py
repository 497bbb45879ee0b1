"""Where a profile's secret lives: one small class per store.

A profile names its store (``secret_store``, or implied by ``secret_env`` /
``secret_command``); every reader of a profile's secret asks :func:`store_for`
and calls ``read()``, so a new store is one class here, not a branch in every
reader. The stores:

- ``keyring`` (default): the OS keyring entry of ``_keyring``, bound to its
  destinations (``_binding``);
- ``env``: a named environment variable, read when the secret is needed, so
  several accounts work in one headless shell or notebook server;
- ``command``: an argument list run without a shell, bounded in time; its
  standard output is the secret, or a JSON token with its expiry (the AWS CLI's
  ``credential_process`` shape), used as a token until it expires. Its standard
  error is shown on failure, its standard output never;
- ``file``: an explicit opt-in (``--insecure-storage``): a 0600 plain-text file
  beside config.toml (``secrets/NAME.json``), bound like a keyring entry and
  named as plain text wherever it is mentioned.

Reading ``env`` and ``command`` is refused for an untrusted config file (the
one rule of DESIGN.md): a file another account can write must not choose a
variable or a program whose output is sent somewhere.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from kaskada import _clock
from kaskada._errors import ConfigError, IncompleteCredentialsError, UntrustedConfigError
from kaskada._secret import Secret, scrub
from kaskada.config import file as _config
from kaskada.config import paths as _paths
from kaskada.credentials import keyring as _keyring
from kaskada.credentials.access_token import Token, refresh_margin
from kaskada.credentials.keyring import Entry
from kaskada.settings import env as _env

COMMAND_TIMEOUT = 60.0
"""Seconds a ``secret_command`` may run (a password manager may ask for a touch)."""

_STDERR_SHOWN = 2000  # characters of a failed command's standard error in a message


def command_timeout() -> float:
    """``KASKADA_SECRET_COMMAND_TIMEOUT`` seconds, default COMMAND_TIMEOUT."""
    from kaskada.settings.parse import parse_timeout  # the one parser of seconds

    raw = os.environ.get(_env.SECRET_COMMAND_TIMEOUT)
    return parse_timeout(raw, _env.SECRET_COMMAND_TIMEOUT) if raw else COMMAND_TIMEOUT


def shown_command(argv: Sequence[str]) -> str:
    """An argument list as one shell-quoted line, for messages (it holds no secret)."""
    return shlex.join(argv)


class SecretStore:
    """Where one profile's secret lives. ``bound``: its entries carry a binding."""

    kind: ClassVar[str]
    bound: ClassVar[bool]

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def describe(self) -> str:
        raise NotImplementedError

    def read(self) -> Entry | None:
        """The secret (with its binding when the store keeps one); None when absent."""
        raise NotImplementedError

    def write(self, secret: Secret, binding: Mapping[str, Any]) -> None:
        raise ConfigError(
            f"profile {self.profile!r} takes its secret from {self.describe()}; kaskada "
            "stores nothing there: set it at its source instead"
        )

    def delete(self) -> bool:
        """Delete what kaskada stored for the profile; False when there was nothing."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.profile!r})"


class KeyringStore(SecretStore):
    kind = "keyring"
    bound = True

    def describe(self) -> str:
        return "the keyring"

    def read(self) -> Entry | None:
        return _keyring.get_entry(self.profile)

    def write(self, secret: Secret, binding: Mapping[str, Any]) -> None:
        _keyring.set_secret(self.profile, secret, binding)

    def delete(self) -> bool:
        return _keyring.delete_secret(self.profile)


class EnvStore(SecretStore):
    kind = "env"
    bound = False

    def __init__(self, profile: str, variable: str) -> None:
        super().__init__(profile)
        self.variable = variable

    def describe(self) -> str:
        return f"the environment variable {self.variable}"

    def read(self) -> Entry | None:
        refuse_untrusted(self)
        value = os.environ.get(self.variable)
        return Entry(Secret(value), None) if value else None

    def missing(self) -> str:
        return (
            f"profile {self.profile!r} takes its secret from ${self.variable}, which is not set "
            f"here: `export {self.variable}=…` (in a notebook: "
            f"os.environ[{self.variable!r}] = getpass())"
        )


class CommandStore(SecretStore):
    kind = "command"
    bound = False

    def __init__(self, profile: str, argv: Sequence[str]) -> None:
        super().__init__(profile)
        self.argv = tuple(argv)

    def describe(self) -> str:
        return f"the command `{shown_command(self.argv)}`"

    def read(self) -> Entry | None:
        output = self.run()
        if isinstance(output, CommandToken):
            raise IncompleteCredentialsError(
                f"{self.describe()} (secret_command of profile {self.profile!r}) printed an "
                "access token, not a client secret: the profile's credentials use it as a "
                "token, not as a secret here"
            )
        return Entry(output, None)

    def run(self) -> Secret | CommandToken:
        """Run the command once: a client secret, or a token with its expiry."""
        refuse_untrusted(self)
        where = f"{self.describe()} (secret_command of profile {self.profile!r})"
        done = _run_bounded(self.argv, where, self.profile)
        out = done.stdout.decode("utf-8", "replace").strip()
        masked = Secret(out) if out else None
        # Each line scrubbed (secrets masked, controls escaped) and indented under the
        # message: the person reads the command's lines as it wrote them (finding F13).
        lines = done.stderr.decode("utf-8", "replace")[-_STDERR_SHOWN:].strip().splitlines()
        err = "\n".join(f"  {scrub(line.rstrip(), masked)}" for line in lines)
        if done.returncode != 0:
            if done.stderr_shown:
                said = "; its standard error went to the terminal, above"
            elif err:
                said = f"; its standard error:\n{err}"
            else:
                said = "; it wrote nothing to standard error"
            raise IncompleteCredentialsError(
                f"{where} failed with exit status {done.returncode} (its standard output is "
                f"never shown); run it yourself to see why{said}"
            )
        if not out:
            raise IncompleteCredentialsError(
                f"{where} printed nothing; it must print the client secret (or a JSON token "
                "with its expiry) on standard output"
            )
        if out.startswith("{"):
            return CommandToken.parse(self, out)
        return Secret(out)


OUTPUT_LIMIT = 64 * 1024  # bytes a secret_command may print: a secret or a JSON token
EXPIRY_MARGIN = 5.0  # seconds: a token with less left is treated as expired
LONGEST_TOKEN = 24 * 3600.0  # seconds a printed token is used at most before a re-run


class _Finished(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes
    stderr_shown: bool  # inherited by a terminal: the person saw it, nothing captured


def _interactive() -> bool:
    """Whether a person is at this process's terminal: then a command's prompt on its
    standard error (a password manager's passphrase) must reach them (as the AWS CLI
    leaves credential_process's stderr on the terminal)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # a closed stdin
        return False


def _run_bounded(argv: Sequence[str], where: str, profile: str) -> _Finished:
    """Run ``argv`` (no shell) at most ``command_timeout()`` seconds, reading at most
    OUTPUT_LIMIT bytes of its standard output (finding F2: a runaway command was read
    whole into memory, then sent). On POSIX it leads its own process group, and a
    timeout or an overflow kills the whole group (``sh -c 'sleep …'`` included); on
    Windows only the command itself is killed (a job object would be needed for its
    children)."""
    import threading

    limit = command_timeout()
    shown = _interactive()
    posix = sys.platform != "win32"
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=None if shown else subprocess.PIPE, shell=False,
            start_new_session=posix,
        )
    except OSError as error:
        raise IncompleteCredentialsError(
            f"{where} could not be started ({error.strerror}); check the program name, or "
            f"change it with `kaskada profile set {profile} secret_command '…'`"
        ) from None
    changed = threading.Event()
    state: dict[str, Any] = {"out": bytearray(), "err": bytearray(), "overflow": False}
    ended: list[str] = []  # list.append is atomic: the readers need no lock

    def collect(stream: Any, key: str, bounded: bool) -> None:
        try:
            while chunk := os.read(stream.fileno(), 65536):
                state[key] += chunk
                if bounded and len(state[key]) > OUTPUT_LIMIT:
                    state["overflow"] = True
                    return
                if not bounded:
                    del state[key][:-_STDERR_SHOWN * 4]  # only the tail is ever shown
        except OSError:
            pass
        finally:
            stream.close()  # here, by its only reader: never under a read in progress
            ended.append(key)
            changed.set()

    pipes = [(process.stdout, "out", True)]
    if process.stderr is not None:
        pipes.append((process.stderr, "err", False))
    for stream, key, bounded in pipes:
        threading.Thread(target=collect, args=(stream, key, bounded), daemon=True,
                         name="kaskada-secret-command").start()

    def stop() -> None:
        if sys.platform != "win32":
            import signal

            with contextlib.suppress(OSError):  # the group is gone already
                os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()

    # A real process's bound: the real clock, not the (test-settable) token clock.
    deadline = time.monotonic() + limit
    try:
        while True:
            if state["overflow"]:
                stop()
                raise IncompleteCredentialsError(
                    f"{where} printed more than {OUTPUT_LIMIT // 1024} KiB and was stopped; it "
                    "must print only the client secret or a JSON token"
                )
            remaining = deadline - time.monotonic()
            if len(ended) == len(pipes):
                try:
                    returncode = process.wait(max(remaining, 0))
                except subprocess.TimeoutExpired:
                    remaining = 0
                else:
                    break
            if remaining <= 0:
                stop()
                raise IncompleteCredentialsError(
                    f"{where} did not finish within {limit:g} s and was stopped; run it "
                    f"yourself to see why, or raise {_env.SECRET_COMMAND_TIMEOUT}"
                )
            changed.wait(remaining)
            changed.clear()
    except BaseException:
        if process.poll() is None:
            stop()
        raise
    return _Finished(returncode, bytes(state["out"]), bytes(state["err"]), shown)


def _private(path: Path, status: os.stat_result) -> None:
    """Refuse a plain-text secret that others can read, as ssh refuses an unprotected
    private key (finding F1): one line naming the file and the chmod that fixes it."""
    if sys.platform == "win32":  # modes are synthesised there; the profile's ACLs protect it
        return
    if status.st_mode & 0o077:
        raise UntrustedConfigError(
            f"refusing to read the plain-text secret {path}: other users can read it "
            f"(mode {status.st_mode & 0o777:o}); make it private: chmod 600 {path}"
        )


class FileStore(SecretStore):
    kind = "file"
    bound = True

    def path(self) -> Path:
        return secrets_dir() / f"{self.profile}.json"

    def describe(self) -> str:
        return f"the plain-text file {self.path()} (insecure storage)"

    def read(self) -> Entry | None:
        path = self.path()
        problems = _config.trust_problems(path)
        if problems:
            raise UntrustedConfigError(
                f"refusing to read the plain-text secret {path}: " + "; also ".join(problems)
            )
        # Never through a symbolic link (O_NOFOLLOW), and the mode checked on what was
        # opened, so a swap between the check and the read changes nothing.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            descriptor = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError as error:
            if path.is_symlink():
                raise UntrustedConfigError(
                    f"refusing to read the plain-text secret {path}: it is a symbolic link "
                    f"(kaskada reads no secret through a link); remove it and store the "
                    f"secret again: kaskada configure --profile {self.profile} "
                    "--insecure-storage"
                ) from None
            raise ConfigError(
                f"cannot read the plain-text secret {path}: {error.strerror}"
            ) from None
        with os.fdopen(descriptor, "rb") as opened:
            _private(path, os.fstat(opened.fileno()))
            data = opened.read().decode("utf-8")
        return _keyring.decode_entry(data)

    def write(self, secret: Secret, binding: Mapping[str, Any]) -> None:
        from kaskada.config import (
            atomic as _atomic,  # the writer (tempfile): only when a secret is stored
        )

        if not secret:
            raise ConfigError(f"refusing to store an empty secret for profile {self.profile!r}")
        _atomic.atomic_write(self.path(), _keyring.encode_entry(secret, binding).encode())

    def put_back(self, entry: Entry) -> None:
        """Write an entry as it was read (rename, undo)."""
        from kaskada.config import atomic as _atomic  # as in write()

        if entry.binding is None:
            data = entry.secret.reveal()
        else:
            data = _keyring.encode_entry(entry.secret, entry.binding)
        _atomic.atomic_write(self.path(), data.encode())

    def delete(self) -> bool:
        try:
            self.path().unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            raise ConfigError(
                f"cannot delete the plain-text secret {self.path()}: {error.strerror}"
            ) from None
        return True


class CommandToken(Secret):
    """An access token printed by a ``secret_command``: used until its expiry, then the
    command runs again (the AWS CLI's ``credential_process`` contract).

    Accepted shapes: ``{"Version": 1, "AccessToken": "…", "Expiration": "RFC 3339"}``
    or ``{"access_token": "…", "expires_at": "RFC 3339"}`` / ``"expires_in": seconds``.
    """

    __slots__ = ("expires_at", "store")
    expires_at: float
    store: CommandStore

    def __init__(self, token: str, expires_at: float, store: CommandStore) -> None:
        super().__init__(token)
        object.__setattr__(self, "expires_at", expires_at)
        object.__setattr__(self, "store", store)

    @classmethod
    def parse(cls, store: CommandStore, text: str) -> CommandToken:
        from kaskada.credentials.handed import parse_time  # RFC 3339, as KASKADA_TOKEN_EXPIRES_AT

        where = f"{store.describe()} (secret_command of profile {store.profile!r})"
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise IncompleteCredentialsError(
                f"{where} printed text that starts with '{{' but is not a JSON object; print "
                'the client secret, or {"Version": 1, "AccessToken": "…", "Expiration": "…"}'
            )
        token = document.get("AccessToken", document.get("access_token"))
        if not isinstance(token, str) or not token.strip():
            raise IncompleteCredentialsError(
                f"{where} printed a JSON object without an AccessToken (or access_token)"
            )
        if not token.strip().isascii() or not token.strip().isprintable():
            raise IncompleteCredentialsError(  # as KASKADA_TOKEN's and a token endpoint's
                f"{where} printed an AccessToken holding characters that cannot travel in a "
                "header (a newline, a control or non-ASCII character): check what it prints"
            )
        now = _clock.get().time()
        expiry = document.get("Expiration", document.get("expires_at"))
        lifetime = document.get("expires_in")
        try:
            if isinstance(expiry, str):
                expires_at = parse_time(expiry)
            elif isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
                expires_at = now + float(lifetime)
            else:
                raise ConfigError("no expiry")
        except ConfigError:
            raise IncompleteCredentialsError(
                f"{where} printed a token without a usable expiry: add \"Expiration\" "
                '(RFC 3339, e.g. "2026-01-02T03:04:05Z") or "expires_in" (seconds)'
            ) from None
        if not math.isfinite(expires_at):  # json.loads accepts NaN and Infinity
            raise IncompleteCredentialsError(
                f"{where} printed a token whose expiry is not a number of seconds or a "
                'time; print "Expiration" (RFC 3339) or a finite "expires_in"'
            )
        if expires_at <= now + EXPIRY_MARGIN:
            # Finding F3: a token the client knows is expired is never sent; the command
            # ran just now, so running it again would print the same.
            try:
                when = datetime.datetime.fromtimestamp(expires_at, datetime.UTC)
                shown = when.isoformat(timespec="seconds").replace("+00:00", "Z")
            except (OverflowError, ValueError, OSError):
                shown = "a time long past"
            raise IncompleteCredentialsError(
                f"{where} printed a token that expired at {shown}; it must print a token "
                "that is still valid (check its clock and what it caches)"
            )
        # A far expiry (year 9999) is held to a day: the command runs again then.
        return cls(token.strip(), min(expires_at, now + LONGEST_TOKEN), store)

    def as_token(self) -> Token:
        """The access token with its expiry, as the credentials keep one (refreshed, i.e.
        the program run again, when less than min(60 s, half its lifetime) remains)."""
        clock = _clock.get()
        left = self.expires_at - clock.time()
        now = clock.monotonic()
        return Token(
            access_token=Secret(self.reveal()), token_type="Bearer", lifetime=left,
            refresh_at=now + left - refresh_margin(left), expires_at=now + left,
        )  # fmt: skip


def secrets_dir() -> Path:
    """Where opted-in plain-text secrets live: ``secrets/`` beside config.toml (0700)."""
    return _paths.config_dir() / "secrets"


def refuse_untrusted(store: SecretStore) -> None:
    """No variable is read and no command runs for an untrusted config file."""
    problems = _config.trust_problems(_config.config_path())
    if problems:
        raise UntrustedConfigError(
            f"refusing to use {store.describe()} for profile {store.profile!r}: the config "
            "file that names it could have been written by another account; "
            + "; also ".join(problems)
        )


def store_for(name: str, fields: Mapping[str, Any] | None = None) -> SecretStore:
    """The store of profile ``name`` (its fields as given, else as the file has them)."""
    if fields is None:
        fields = _config.get_profile(name).fields()
    kind = _config.store_of(fields)
    if kind == "env":
        variable = fields.get("secret_env")
        if not variable:
            raise ConfigError(f"profile {name!r}: secret_store is 'env' but secret_env is not set")
        return EnvStore(name, variable)
    if kind == "command":
        argv = fields.get("secret_command")
        if not argv:
            raise ConfigError(
                f"profile {name!r}: secret_store is 'command' but secret_command is not set"
            )
        return CommandStore(name, argv)
    if kind == "file":
        return FileStore(name)
    return KeyringStore(name)


def store_fields(
    secret_env: str | None, secret_command: Sequence[str] | None, insecure_storage: bool
) -> dict[str, Any]:
    """The profile fields that choose a store, from the CLI's flags (None: not given)."""
    chosen = [flag for flag, value in (("--secret-env", secret_env),
                                       ("--secret-command", secret_command),
                                       ("--insecure-storage", insecure_storage)) if value]
    if len(chosen) > 1:
        raise ConfigError(
            f"{' and '.join(chosen)} each choose where the secret lives; give one of them"
        )
    if secret_env:
        return {"secret_store": "env", "secret_env": secret_env}
    if secret_command:
        return {"secret_store": "command", "secret_command": tuple(secret_command)}
    if insecure_storage:
        return {"secret_store": "file"}
    return {}
