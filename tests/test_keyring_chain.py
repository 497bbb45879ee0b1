"""keyring's chainer as ordinary users get it (finding F12): with keyrings.alt and
keyrings.cryptfile installed and no PYTHON_KEYRING_BACKEND, keyring picks a
ChainerBackend. kaskada judges each member by what it would really do: a chain led by
a working Secret Service stores and reads there; a chain led by a backend that asks
for a password still gets the prompt handling.

Each run is a subprocess with a fresh environment (no PYTHON_KEYRING_BACKEND, no
keyring config file), as a user's shell would be; the conftest fixtures pin the
backend for the other tests, so they could not show this.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import require_real_keyring

pytest.importorskip("keyrings.alt")
pytest.importorskip("keyrings.cryptfile")

CANARY = "canary-chain-7d1e"


def _env(tmp_path: Path, *, dbus: bool) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdgconfig"),
        "KASKADA_CONFIG_DIR": str(tmp_path / "config"),
        "KASKADA_CACHE_DIR": str(tmp_path / "cache"),
        "KASKADA_KEYRING_SERVICE": f"kaskada-chain-{uuid.uuid4().hex}",
        "LANG": "C.UTF-8",
    }
    if dbus:
        env["DBUS_SESSION_BUS_ADDRESS"] = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    return env


def _run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, input=stdin, capture_output=True, text=True,
        timeout=120, check=False,
    )


_PROBE = """
import sys, keyring
from keyring.backends import SecretService
backend = keyring.get_keyring()
members = [type(m).__module__ + "." + type(m).__qualname__ for m in backend.backends]
print(type(backend).__name__, members[0], any("cryptfile" in m for m in members))
held = SecretService.Keyring().get_password(sys.argv[1], "k1")
print("held" if held and sys.argv[2] in held else "absent")
"""


def test_a_chain_led_by_the_secret_service_stores_reads_and_deletes_there(
    tmp_path: Path,
) -> None:
    require_real_keyring()
    env = _env(tmp_path, dbus=True)
    service = env["KASKADA_KEYRING_SERVICE"]
    added = _run(
        env, "-m", "kaskada", "profile", "add", "k1", "--client-id", "abc", "--secret-stdin",
        stdin=CANARY,
    )
    assert added.returncode == 0, added.stderr
    probe = _run(env, "-c", _PROBE, service, CANARY)
    assert probe.returncode == 0, probe.stderr
    kind, first, has_cryptfile, held = probe.stdout.split()
    assert (kind, first, has_cryptfile) == (
        "ChainerBackend", "keyring.backends.SecretService.Keyring", "True",
    )
    assert held == "held"
    read = _run(
        env, "-c",
        "from kaskada.credentials import keyring as k; e = k.get_entry('k1'); "
        f"print(e is not None and e.secret.reveal() == {CANARY!r})",
    )
    assert read.stdout.strip() == "True", read.stderr
    # nothing reached a file keyring of the chain
    data = tmp_path / "data"
    leaked = [p for p in data.rglob("*") if p.is_file() and CANARY in p.read_text("latin-1")]
    assert leaked == []
    removed = _run(env, "-m", "kaskada", "profile", "remove", "k1")
    assert removed.returncode == 0, removed.stderr
    assert _run(env, "-c", _PROBE, service, CANARY).stdout.split()[3] == "absent"


def test_a_chain_led_by_a_prompting_backend_still_gets_the_prompt_handling(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, dbus=False)
    added = _run(
        env, "-m", "kaskada", "profile", "add", "k1", "--client-id", "abc", "--secret-stdin",
        stdin=CANARY,
    )
    assert added.returncode == 1
    assert "asks for its own password on a terminal" in added.stderr
    assert "Traceback" not in added.stderr and CANARY not in added.stderr + added.stdout
