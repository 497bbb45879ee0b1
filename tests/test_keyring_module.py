"""kaskada.credentials.keyring: timeouts, no-keyring backends, clear messages, no leaks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from kaskada._errors import ConfigError, KeyringError, KeyringTimeoutError, NoKeyringError
from kaskada._secret import Secret
from kaskada.credentials import keyring as _keyring
from tests import keyring_blocking
from tests.helpers import ROOT, cli_env
from tests.stored import stored

CANARY = "canary-keyring-91d2e7"


@pytest.fixture
def backend() -> Iterator[None]:
    """Restore the process's keyring backend after a test replaced it."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.mark.parametrize("no_keyring", [fail.Keyring, null.Keyring])
def test_fail_and_null_backends_are_no_keyring(no_keyring: type, backend: None) -> None:
    keyring.set_keyring(no_keyring())
    with pytest.raises(KeyringError) as caught:
        _keyring.set_secret("dev", Secret(CANARY), {})
    message = str(caught.value)
    assert f"{no_keyring.__module__}.Keyring" in message
    assert "'dev'" in message
    for way_out in ("Secret Service", "PYTHON_KEYRING_BACKEND", "KASKADA_CLIENT_SECRET"):
        assert way_out in message
    assert CANARY not in message
    with pytest.raises(NoKeyringError):
        _keyring.get_secret("dev")


def test_blocking_backend_times_out(monkeypatch: pytest.MonkeyPatch, backend: None) -> None:
    monkeypatch.setenv("KASKADA_KEYRING_TIMEOUT", "0.2")
    keyring.set_keyring(keyring_blocking.Keyring())
    try:
        with pytest.raises(KeyringTimeoutError) as caught:
            _keyring.get_secret("dev")
        assert "did not answer within 0.2 s" in str(caught.value)
        assert "KASKADA_KEYRING_TIMEOUT" in str(caught.value)
        with pytest.raises(KeyringTimeoutError):
            _keyring.set_secret("dev", Secret(CANARY), {})
    finally:
        keyring_blocking.RELEASE.set()


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_bad_timeout_setting(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASKADA_KEYRING_TIMEOUT", value)
    with pytest.raises(ConfigError, match="KASKADA_KEYRING_TIMEOUT"):
        _keyring.timeout()


def test_backend_errors_are_scrubbed_of_the_secret(backend: None) -> None:
    class Leaky(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise RuntimeError(f"refused to store {password}")

        def delete_password(self, service: str, username: str) -> None:
            raise RuntimeError("nope")

    keyring.set_keyring(Leaky())
    with pytest.raises(KeyringError) as caught:
        _keyring.set_secret("dev", Secret(CANARY), {})
    assert CANARY not in str(caught.value)
    assert "RuntimeError" in str(caught.value) and "Leaky" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_memory_roundtrip(memory_keyring: dict[tuple[str, str], str]) -> None:
    service = _keyring._paths.keyring_service()
    assert _keyring.get_secret("dev") is None
    _keyring.set_secret("dev", Secret(CANARY), {})
    assert stored(memory_keyring.get((service, "dev"))) == CANARY
    assert _keyring.get_secret("dev") == Secret(CANARY)
    assert _keyring.delete_secret("dev") is True
    assert _keyring.delete_secret("dev") is False


def test_real_secret_service_roundtrip(real_keyring: str) -> None:
    assert _keyring.get_secret("dev") is None
    _keyring.set_secret("dev", Secret(CANARY), {})
    assert stored(keyring.get_password(real_keyring, "dev")) == CANARY
    assert _keyring.get_secret("dev") == Secret(CANARY)
    assert "SecretService" in _keyring.describe_backend()
    assert _keyring.delete_secret("dev") is True
    assert keyring.get_password(real_keyring, "dev") is None
    assert _keyring.delete_secret("dev") is False


def test_backends_made_for_tests_or_the_demo_are_never_detected(tmp_path: Path) -> None:
    """keyring's detection weighs every backend class imported so far. Without a Secret
    Service the test helpers (priority 1) once beat ``fail`` in the test process, and every
    "no keyring" test waited out KASKADA_KEYRING_TIMEOUT on the blocking one."""
    code = (
        "import keyring, tests.keyring_blocking, tests.keyring_raising\n"
        "from kaskada.credentials import keyring as _keyring\n"
        "_keyring.memory_backend()\n"
        "print(_keyring.backend_name(keyring.get_keyring()))\n"
    )
    # No session bus (so no Secret Service outranks them) and no keyringrc.cfg or
    # PYTHON_KEYRING_BACKEND of the user's choosing: keyring detects on its own.
    env = {name: value for name, value in cli_env().items()
           if name not in {"PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS"}}
    env["XDG_CONFIG_HOME"] = str(tmp_path)

    def backend_in_child(extra: dict[str, str]) -> str:
        child = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, cwd=ROOT,
                               capture_output=True, text=True, timeout=60, check=False)
        assert child.returncode == 0, child.stderr
        return child.stdout.strip()

    detected = backend_in_child({})
    for ours in ("tests.keyring_blocking", "tests.keyring_raising", "MemoryKeyring"):
        assert ours not in detected, detected
    # Chosen by name, they still load (that is how the timeout tests select them).
    chosen = backend_in_child({"PYTHON_KEYRING_BACKEND": "tests.keyring_blocking.Keyring"})
    assert chosen == "tests.keyring_blocking.Keyring"
