"""Shared fixtures: every test runs with its own config folder and keyring service.

Tests never touch the user's real config folder or keyring: KASKADA_CONFIG_DIR
points into tmp_path and KASKADA_KEYRING_SERVICE is unique per test.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.certs import Issued, make_ca, make_leaf
from tests.helpers import (
    ROOT,
    RUN_MARK,
    end_processes,
    processes_of_this_run,
    require_real_keyring,
)

pytest_plugins = [
    "tests.server_fixtures",
    "tests.token_fakes",
    "tests.scripted_api",
    "tests.capture",
    "pytester",
]

settings.register_profile(
    "kaskada",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("kaskada")

# Variables a user may have set that would leak into tests; everything
# KASKADA_* is cleared, plus the keyring backend choice.
_CLEARED_PREFIXES = ("KASKADA_",)
_CLEARED_NAMES = {"PYTHON_KEYRING_BACKEND"}  # the fixtures that need a backend select it
_KEPT = {"KASKADA_REQUIRE_REAL_KEYRING", "KASKADA_TEST_RUN"}


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private config folder and keyring service; kaskada's process caches cleared."""
    for name in list(os.environ):
        if (name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES) and name not in _KEPT:
            monkeypatch.delenv(name)
    config_dir = tmp_path / "kaskada-config"
    monkeypatch.setenv("KASKADA_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("KASKADA_KEYRING_SERVICE", f"kaskada-test-{uuid.uuid4().hex}")
    monkeypatch.setenv("KASKADA_DATA_DIR", str(tmp_path / "kaskada-data"))
    monkeypatch.setenv("KASKADA_CACHE_DIR", str(tmp_path / "kaskada-cache"))
    from kaskada import _reset

    _reset.reset_all()
    yield config_dir
    _reset.reset_all()


@pytest.fixture
def real_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real Secret Service, selected for this process and its children.

    Pinned, so these tests prove the Secret Service itself; what users get with no
    PYTHON_KEYRING_BACKEND (keyring's chainer, keyrings.alt and cryptfile installed)
    is proven in a fresh environment by tests/test_keyring_chain.py.

    Skips with the reason when none is usable, unless KASKADA_REQUIRE_REAL_KEYRING=1
    (CI sets it), in which case the test fails.
    """
    require_real_keyring()
    import keyring
    from keyring.backends import SecretService

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())
    yield os.environ["KASKADA_KEYRING_SERVICE"]
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[dict[tuple[str, str], str]]:
    """An in-memory keyring for unit tests in this process (never the only proof)."""
    import keyring

    from kaskada.credentials import keyring as _keyring

    store: dict[tuple[str, str], str] = {}
    previous = keyring.get_keyring()
    keyring.set_keyring(_keyring.memory_backend(store))
    yield store
    keyring.set_keyring(previous)


# -- the real_keyring marker follows the fixture ----------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that reaches the real Secret Service carries the real_keyring marker.

    ``-m real_keyring`` / ``-m "not real_keyring"`` select on the marker, so a
    test that uses the fixture (directly or through another fixture) gets it
    here even when its module forgot; a test marked without using the fixture
    is refused, since the marker would then promise a check that never runs.
    (tests/test_markers.py proves both.)
    """
    wrong = []
    for item in items:
        uses = "real_keyring" in getattr(item, "fixturenames", ())
        marked = item.get_closest_marker("real_keyring") is not None
        if uses and not marked:
            item.add_marker(pytest.mark.real_keyring)
        elif marked and not uses:
            wrong.append(f"{item.nodeid}: marked real_keyring but does not use the "
                         "real_keyring fixture")
    if wrong:
        raise pytest.UsageError("\n".join(wrong))


@pytest.fixture
def ipython_shell(tmp_path: Path) -> Iterator[Any]:
    """IPython's InteractiveShell (the singleton, as a terminal's %load_ext would use),
    profile folder and history under tmp_path, fenlmagic unloaded and the namespace
    reset before and after."""
    real_main = sys.modules["__main__"]  # before the shell makes its own module __main__
    previous = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(tmp_path / "ipython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "NoColor"
    shell: Any = InteractiveShell.instance(config=config)
    if "fenlmagic" in shell.extension_manager.loaded:
        shell.extension_manager.unload_extension("fenlmagic")
    shell.reset(new_session=False)
    # The shell makes its namespace module __main__; a process pool started later with
    # spawn re-imports __main__ by its spec, so the real one goes back after the test.
    sys.modules["__main__"] = shell.user_module
    try:
        yield shell
    finally:
        if "fenlmagic" in shell.extension_manager.loaded:
            shell.extension_manager.unload_extension("fenlmagic")
        shell.reset(new_session=False)
        sys.modules["__main__"] = real_main
        if previous is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = previous


@pytest.fixture
def kernel_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What a Jupyter kernel started now inherits: this checkout importable, IPython's
    and Jupyter's folders under tmp_path (never the user's); tmp_path returned."""
    for name in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return tmp_path


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process (and its children) as on a box without a keyring: reading one is an
    error."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


# -- certificates (tests/certs.py) -------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> Issued:
    """A test CA (certificate and key) under tmp_path."""
    return make_ca(tmp_path)


@pytest.fixture
def signed_leaf(tmp_path: Path, ca: Issued) -> Issued:
    """A server certificate for localhost and 127.0.0.1 signed by ``ca``, and its key."""
    return make_leaf(tmp_path, ca)


# -- nothing left behind ---------------------------------------------------------
# Every process the suite starts inherits KASKADA_TEST_RUN (a daemon that detaches
# keeps it too), and every temporary file made through tempfile lands in a folder
# of the run's own: at the end, both must be gone. pytest's own tmp_path folders
# stay where pytest keeps them (PYTEST_DEBUG_TEMPROOT).

_SCRATCH: list[Path] = []
# Dask's scratch folder: distributed keeps it across clusters by design (its
# local_directory); multiprocessing's pymp-* folder lives as long as this process
# (its forkserver's). Both go with the run's temporary folder.
_OWNED_BY_OTHERS = ("dask-scratch-space", "pymp-")


def pytest_configure(config: pytest.Config) -> None:
    os.environ[RUN_MARK] = uuid.uuid4().hex
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    scratch = Path(tempfile.mkdtemp(prefix="kaskada-tests-"))
    _SCRATCH.append(scratch)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    # The folder itself goes at exit: registered before multiprocessing loads, this
    # runs after multiprocessing's own exit handler has removed its pymp-* folder
    # (removing that folder under it printed a FileNotFoundError traceback at exit).
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)


# Python 3.12+ warns of a fork while threads run (it cannot be made an error: the
# warning is printed, never raised). The suite forks that way only where that is
# the point of the test, and says so there (tests/test_transport.py).
_FORK_WARNINGS: list[str] = []


def pytest_warning_recorded(
    warning_message: warnings.WarningMessage, when: str, nodeid: str, location: object
) -> None:
    if re.search(r"is multi-threaded, use of fork(pty)?\(\)", str(warning_message.message)):
        _FORK_WARNINGS.append(f"{nodeid}: {warning_message.filename}:{warning_message.lineno}")


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Fail the run when a test left a process running or a temporary file behind,
    or forked a threaded process without saying why that is safe."""
    yield
    deadline = time.monotonic() + 10  # children told to stop may take a moment
    left = processes_of_this_run()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_of_this_run()
    end_processes(left)
    scratch = _SCRATCH[0] if _SCRATCH else None
    files = sorted(p.name for p in scratch.iterdir() if not p.name.startswith(_OWNED_BY_OTHERS)) \
        if scratch and scratch.exists() else []
    if scratch is not None and scratch.exists():
        for entry in scratch.iterdir():
            if entry.name.startswith(_OWNED_BY_OTHERS):
                continue  # theirs: gone by the exit handler above
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    problems = [f"process {pid} still running: {command}" for pid, command in left.items()]
    problems += [f"temporary file left behind: {name}" for name in files]
    problems += [f"a fork while threads ran, with no reason given: {where}"
                 for where in _FORK_WARNINGS]
    assert not problems, "the suite left things behind:\n" + "\n".join(problems)
