"""Private files written safely: 0700 folders, 0600 files, atomic replace, a lock.

A reader (another process, a notebook) must only ever see the old file or the
new one, never a half-written one, and the file must never exist, even for an
instant, with wider permissions than 0600. ``fcntl.flock`` (stdlib) serialises
writers across processes; the kernel drops the lock when a writer dies, so a
killed process can never leave a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kaskada._errors import ConfigError

TEMP_SUFFIX = ".tmp"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 30.0


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) with mode 0700 from the first instant."""
    if folder.is_dir():
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # mkdir applies the umask, which can only remove bits: 0700 is never widened.
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise ConfigError(
            f"cannot create the config folder {folder}: {error.strerror}; "
            "check its parent's permissions or set KASKADA_CONFIG_DIR to a writable folder"
        ) from None
    os.chmod(folder, 0o700)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temps(path: Path) -> None:
    """Delete temp files left by writers that died mid-write (call under the lock)."""
    prefix = _temp_prefix(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same folder, fsync, ``os.replace``.

    ``mkstemp`` creates the temp file 0600, so there is no window of wider
    permissions; on any failure the old file is left whole.
    """
    ensure_private_dir(path.parent)
    try:
        descriptor, temp_name = tempfile.mkstemp(
            prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent
        )
    except OSError as error:
        raise ConfigError(
            f"cannot write {path}: {error.strerror}; check the permissions of {path.parent}"
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise ConfigError(
                f"cannot write {path}: {error.strerror}; the old file is unchanged"
            ) from None
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash after replace keeps the new file)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the cross-process lock of ``path`` (a ``.lock`` file next to it).

    The lock file is never deleted: unlinking a flock file races with waiters.
    """
    ensure_private_dir(path.parent)
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise ConfigError(
            f"cannot open the lock file {lock_path}: {error.strerror}; "
            f"check the permissions of {path.parent}"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConfigError(
                        f"{lock_path} stayed locked for {timeout:g} s: another kaskada "
                        "process is writing the config; wait for it or stop it"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
