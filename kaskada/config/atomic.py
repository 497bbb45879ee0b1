"""Private files written safely: 0700 folders, 0600 files, atomic replace, a lock.

A reader (another process, a notebook) must only ever see the old file or the
new one, never a half-written one, and the file must never exist, even for an
instant, with wider permissions than 0600. Writers are serialised across
processes by ``filelock`` (``flock`` on POSIX, ``LockFileEx``-style locking on
Windows): the OS drops such a lock when a writer dies, so a killed process
never leaves a stale lock behind. No file is opened through a symbolic link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from kaskada._errors import ConfigError

TEMP_SUFFIX = ".tmp"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 30.0
# A write holds the lock for milliseconds: waiters retry often.
LOCK_POLL_SECONDS = 0.005


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
    """Replace ``path`` with ``data``: temp file in the same folder, full flush, ``os.replace``.

    ``mkstemp`` creates the temp file 0600 with ``O_EXCL`` (and ``O_NOFOLLOW``
    where the OS has it), so there is no window of wider permissions and no
    link is followed; ``os.replace`` swaps the directory entry itself, so a
    symlink at ``path`` is replaced, never written through. The bytes are
    written as given (binary): line endings stay ``\\n`` on every platform.
    On any failure the old file is left whole.
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
            full_flush(handle.fileno())
        _replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise ConfigError(
                f"cannot write {path}: {error.strerror}; the old file is unchanged"
            ) from None
        raise
    _fsync_dir(path.parent)


def full_flush(descriptor: int) -> None:
    """Flush a file to the disk itself, not only to the drive's cache.

    On macOS ``fsync`` only hands the data to the drive, which may reorder or
    lose it on power loss; ``F_FULLFSYNC`` asks the drive to write it out. Some
    file systems (network shares) refuse it: then ``fsync`` is the best there is.
    """
    if sys.platform == "darwin":
        import fcntl  # POSIX only: this module also runs on Windows

        try:
            fcntl.fcntl(descriptor, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(descriptor)


# Windows refuses to replace a file that another process has open for a moment
# (a reader without FILE_SHARE_DELETE): retry briefly instead of failing the write.
_REPLACE_ATTEMPTS = 20


def _replace(source: str, target: Path) -> None:
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if sys.platform != "win32" or attempt == _REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash after replace keeps the new file).

    Windows cannot open a folder this way (NTFS journals the rename itself).
    """
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def lock_path_of(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


def _refuse_link(lock_path: Path) -> None:
    """A lock file that is a link (or not a file) is refused, never followed.

    ``filelock`` opens with ``O_NOFOLLOW`` on POSIX; this check also covers its
    other back ends and gives the one-line error with the fix.
    """
    try:
        status = os.lstat(lock_path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise ConfigError(
            f"cannot check the lock file {lock_path}: {error.strerror}; "
            f"check the permissions of {lock_path.parent}"
        ) from None
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISREG(status.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(status.st_mode) else "not a regular file"
        raise ConfigError(
            f"the lock file {lock_path} is {kind}; kaskada never follows links for its "
            f"files: remove it (rm {lock_path}) and try again"
        )


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the cross-process lock of ``path`` (a ``.lock`` file next to it, 0600).

    Waits at most ``timeout`` seconds, then a ConfigError names the lock file
    and what to do. The lock is not reentrant: a nested ``locked`` on the same
    path in the same process waits for itself and times out.
    """
    with warnings.catch_warnings():
        # Without fcntl (and not on Windows) filelock falls back to its soft lock
        # and says so on import: an expected fallback, not the user's concern.
        warnings.simplefilter("ignore")
        import filelock

    ensure_private_dir(path.parent)
    lock_path = lock_path_of(path)
    _refuse_link(lock_path)
    lock = filelock.FileLock(str(lock_path), timeout=timeout, mode=0o600)
    try:
        lock.acquire(poll_interval=LOCK_POLL_SECONDS)
    except filelock.Timeout:
        raise ConfigError(
            f"{lock_path} stayed locked for {timeout:g} s: another kaskada process is "
            "writing the config; wait for it or stop it (a lock left by a crashed process "
            f"on a system without file locks can be removed: rm {lock_path})"
        ) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            _refuse_link(lock_path)  # raced with a link created after the check
        raise ConfigError(
            f"cannot open the lock file {lock_path}: {error.strerror}; "
            f"check the permissions of {path.parent}"
        ) from None
    try:
        yield
    finally:
        lock.release()
