"""Shared fixtures: every test runs with its own config folder and keyring service.

Tests never touch the user's real config folder or keyring: KASKADA_CONFIG_DIR
points into tmp_path and KASKADA_KEYRING_SERVICE is unique per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.server_fixtures"]

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
_KEPT = {"KASKADA_REQUIRE_REAL_KEYRING"}


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private config folder and keyring service; kaskada's process caches cleared."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) and name not in _KEPT:
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


def secret_service_problem() -> str | None:
    """Why no Secret Service is usable here, or None when one is."""
    try:
        import keyring
        from keyring.backends import SecretService
    except Exception as error:  # pragma: no cover - keyring is a dependency
        return f"keyring cannot be imported: {error}"
    backend = SecretService.Keyring()
    try:
        if backend.priority <= 0:  # type: ignore[operator]
            return "the SecretService backend reports itself unusable"
    except Exception as error:
        return f"no Secret Service on the session bus: {error}"
    probe = f"kaskada-probe-{uuid.uuid4().hex}"
    try:
        backend.set_password(probe, "probe", "probe")
        backend.delete_password(probe, "probe")
    except Exception as error:
        return f"the Secret Service refused a write: {error}"
    del keyring
    return None


@pytest.fixture
def real_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real Secret Service, selected for this process and its children.

    Skips with the reason when none is usable, unless KASKADA_REQUIRE_REAL_KEYRING=1
    (CI sets it), in which case the test fails.
    """
    problem = secret_service_problem()
    if problem is not None:
        if os.environ.get("KASKADA_REQUIRE_REAL_KEYRING") == "1":
            pytest.fail(f"KASKADA_REQUIRE_REAL_KEYRING=1 but {problem}")
        pytest.skip(problem)
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

    from kaskada import _keyring

    store: dict[tuple[str, str], str] = {}
    previous = keyring.get_keyring()
    keyring.set_keyring(_keyring.memory_backend(store))
    yield store
    keyring.set_keyring(previous)
