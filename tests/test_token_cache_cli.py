"""The token cache on disk, as users meet it: real ``kaskada`` processes, a real server
(its SQLite ``tokens`` table counts the exchanges) and the real Secret Service.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kaskada._secret import Secret
from tests.helpers import add_profile, cache_dir, entries, issued
from tests.helpers import run_cli as run

ROOT = Path(__file__).resolve().parent.parent

MARKER_BACKEND = '''
import os, pathlib
pathlib.Path(os.environ["KASKADA_TEST_MARKER"]).write_text("imported")
from keyring.backend import KeyringBackend

class Keyring(KeyringBackend):
    priority = 1

    def get_password(self, service, username):
        raise RuntimeError("the keyring was read")

    def set_password(self, service, username, password):
        raise RuntimeError("the keyring was written")

    def delete_password(self, service, username):
        raise RuntimeError("the keyring was written")
'''


@pytest.fixture
def prof(local_server: Any, real_keyring: str) -> tuple[str, str]:
    return add_profile(local_server, "p")


def test_two_runs_in_a_row_exchange_once(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    for _ in range(2):
        result = run("table", "list", "--profile", "p")
        assert result.returncode == 0, result.stderr
    assert issued(local_server, client_id) == 1


def test_eight_cold_processes_exchange_once(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    child_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "kaskada", "table", "list", "--profile", "p"],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert issued(local_server, client_id) == 1


def test_warm_call_never_imports_keyring(
    local_server: Any, prof: tuple[str, str], tmp_path: Path
) -> None:
    assert run("table", "list", "--profile", "p").returncode == 0
    modules = tmp_path / "backend"
    modules.mkdir()
    (modules / "markerkr.py").write_text(MARKER_BACKEND)
    marker = tmp_path / "marker"
    env = {
        "PYTHONPATH": f"{ROOT}{os.pathsep}{modules}",
        "PYTHON_KEYRING_BACKEND": "markerkr.Keyring",
        "KASKADA_TEST_MARKER": str(marker),
    }
    result = run("table", "list", "--profile", "p", env=env)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    # The same from the library, and keyring is not even imported.
    code = (
        "import sys, kaskada as kda; from kaskada import table; kda.init(profile='p'); "
        "table.list_tables(); print(sorted(m for m in sys.modules if m.startswith('keyring')))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"
    assert not marker.exists()
    # Cold (after logout) the marker backend is needed, imported, and the call fails.
    assert run("logout", "--profile", "p").returncode == 0
    cold = run("table", "list", "--profile", "p", env=env)
    assert cold.returncode == 1 and marker.exists()


def test_files_are_private_and_hold_no_secret(local_server: Any, prof: tuple[str, str]) -> None:
    _, secret = prof
    assert run("whoami", "--profile", "p").returncode == 0
    folder = cache_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [path for path in folder.iterdir() if not path.name.endswith(".lock")]
    assert [path.suffix for path in files] == [".json"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert secret not in path.read_text()
    config = Path(os.environ["KASKADA_CONFIG_DIR"])
    assert not any(path.name.endswith(".json") for path in config.iterdir())


def test_no_token_in_any_output_but_token_and_env(
    local_server: Any, prof: tuple[str, str]
) -> None:
    assert run("table", "list", "--profile", "p").returncode == 0
    token = json.loads(entries()[0].read_text())["access_token"]
    for args in (("table", "list"), ("whoami",), ("logout",)):
        result = run(*args, "--profile", "p")
        assert token not in result.stdout + result.stderr
    assert run("token", "--profile", "p").stdout.strip() != ""


def test_corrupt_entry_is_a_miss(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    for garbage in (b"{not json", b"", b'{"version": 1, "access_token": 3}', b"\xff\xfe"):
        entries()[0].write_bytes(garbage)
        result = run("table", "list", "--profile", "p")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert issued(local_server, client_id) == 5
    assert json.loads(entries()[0].read_text())["access_token"]


def test_expired_entry_is_refreshed(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    path = entries()[0]
    document = json.loads(path.read_text())
    old = document["access_token"]
    document["expires_at"] = document["created_at"] - 10
    path.write_text(json.dumps(document))
    assert run("table", "list", "--profile", "p").returncode == 0
    assert issued(local_server, client_id) == 2
    assert json.loads(path.read_text())["access_token"] != old


def test_an_entry_due_for_refresh_is_refreshed(local_server: Any, prof: tuple[str, str]) -> None:
    """Still valid but inside the refresh margin (min(60 s, half the lifetime)): not used.

    The entry is aged on disk, as the passing of time would, instead of sleeping.
    """
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    path = entries()[0]
    document = json.loads(path.read_text())
    old = document["access_token"]
    shift = document["expires_at"] - document["created_at"] - 30  # 30 s left of its life
    document["created_at"] -= shift
    document["expires_at"] -= shift
    path.write_text(json.dumps(document))
    assert run("table", "list", "--profile", "p").returncode == 0
    assert issued(local_server, client_id) == 2
    assert json.loads(path.read_text())["access_token"] != old


def test_rejected_cached_token_is_dropped_and_signs_in_again(
    local_server: Any, prof: tuple[str, str]
) -> None:
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    path = entries()[0]
    document = json.loads(path.read_text())
    document["access_token"] = "not-a-token-the-server-issued"
    path.write_text(json.dumps(document))
    result = run("table", "list", "--profile", "p")
    assert result.returncode == 0, result.stderr
    assert issued(local_server, client_id) == 2
    assert json.loads(path.read_text())["access_token"] != "not-a-token-the-server-issued"


def test_logout_makes_the_next_call_exchange(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    result = run("logout", "--profile", "p")
    assert result.returncode == 0 and "1 cached token" in result.stderr
    assert entries() == []
    assert run("table", "list", "--profile", "p").returncode == 0
    assert issued(local_server, client_id) == 2
    assert run("logout", "--all").returncode == 0
    assert entries() == []
    assert run("profile", "show", "p").returncode == 0  # the profile stays
    assert run("table", "list", "--profile", "p").returncode == 0  # and its secret
    assert issued(local_server, client_id) == 3


def test_logout_needs_a_profile_or_all() -> None:
    result = run("logout")
    assert result.returncode == 1 and "--all" in result.stderr
    assert run("logout", "--profile", "a", "--all").returncode == 2


def test_removing_or_replacing_a_profile_drops_its_entries(
    local_server: Any, real_keyring: str
) -> None:
    from kaskada.config import lifecycle as _profiles

    add_profile(local_server, "gone")
    add_profile(local_server, "kept")
    for name in ("gone", "kept"):
        assert run("table", "list", "--profile", name).returncode == 0
    assert len(entries()) == 2
    _profiles.remove_profile("gone")
    assert [json.loads(path.read_text())["profile"] for path in entries()] == ["kept"]
    add_profile(local_server, "kept", force=True)  # replaced (new client, new secret)
    assert entries() == []
    assert run("table", "list", "--profile", "kept").returncode == 0
    _profiles.rename_profile("kept", "moved")
    assert entries() == []


def test_new_secret_for_the_same_fields_drops_the_entry(
    local_server: Any, prof: tuple[str, str]
) -> None:
    from kaskada.config import file as _config
    from kaskada.config import lifecycle as _profiles

    _, secret = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    assert len(entries()) == 1
    fields = _config.get_profile("p").fields()
    _profiles.add_profile("p", fields, Secret(secret), force=True)
    assert entries() == []


@pytest.mark.parametrize("switch", ["env", "profile"])
def test_cache_can_be_turned_off(local_server: Any, real_keyring: str, switch: str) -> None:
    extra = {"token_cache": False} if switch == "profile" else {}
    client_id, _ = add_profile(local_server, "off", **extra)
    env = {"KASKADA_TOKEN_CACHE": "0"} if switch == "env" else {}
    for _ in range(2):
        result = run("table", "list", "--profile", "off", env=env)
        assert result.returncode == 0, result.stderr
    assert issued(local_server, client_id) == 2
    assert entries() == []


def test_unsafe_folder_is_never_used(local_server: Any, prof: tuple[str, str]) -> None:
    client_id, _ = prof
    folder = cache_dir()
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o777)
    for _ in range(2):
        result = run("table", "list", "--profile", "p")
        assert result.returncode == 0, result.stderr
        assert "writable by others" in result.stderr
    assert issued(local_server, client_id) == 2
    assert entries() == []


def test_symlinked_entry_is_a_miss(
    local_server: Any, prof: tuple[str, str], tmp_path: Path
) -> None:
    client_id, _ = prof
    assert run("table", "list", "--profile", "p").returncode == 0
    path = entries()[0]
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(path.read_bytes())
    os.chmod(elsewhere, 0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    assert run("table", "list", "--profile", "p").returncode == 0
    assert issued(local_server, client_id) == 2
    assert not path.is_symlink()  # replaced by a real entry, the target left alone


def test_a_wrong_secret_for_the_same_client_never_borrows_a_token(
    local_server: Any, prof: tuple[str, str]
) -> None:
    from kaskada.config import file as _config
    from kaskada.config import lifecycle as _profiles

    assert run("table", "list", "--profile", "p").returncode == 0
    assert len(entries()) == 1  # a warm token for the same client id exists
    _profiles.add_profile("wrong", _config.get_profile("p").fields(), Secret("not-the-secret"))
    result = run("whoami", "--profile", "wrong")
    assert result.returncode == 4 and "refused" in result.stderr
    explicit = {
        "KASKADA_CLIENT_ID": prof[0],
        "KASKADA_CLIENT_SECRET": "not-the-secret",
        "KASKADA_API_ENDPOINT": local_server.endpoint,
        "KASKADA_AUTH_ENDPOINT": local_server.token_url,
        "KASKADA_IS_SECURE": "false",
    }
    assert run("table", "list", env=explicit).returncode == 4
