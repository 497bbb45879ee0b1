"""Issue 14: kaskada where its users are (Windows, macOS), checked on Linux.

Windows lacks ``fcntl``, ``os.fork`` and ``os.register_at_fork``. A child
Python started with STANDIN has exactly those removed before kaskada is
imported (``sys.modules["fcntl"] = None`` makes ``import fcntl`` raise
ImportError, as on Windows), and then runs the profile lifecycle, ``init``,
``session`` and concurrent writers for real: the CLI in subprocesses, the real
Secret Service, the real local server. Also here: output under a legacy
console code page, a config folder whose path has spaces, ``\\n`` line endings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest

import kaskada as kda
from kaskada import table

REPO = Path(__file__).resolve().parents[1]

STANDIN = textwrap.dedent(
    """
    import os, sys
    sys.modules["fcntl"] = None  # `import fcntl` raises ImportError, as on Windows
    for _name in ("register_at_fork", "fork", "forkpty"):
        if hasattr(os, _name):
            delattr(os, _name)
    """
)
STANDIN_CLI = STANDIN + "import kaskada.cli\nsys.exit(kaskada.cli.main(sys.argv[1:]))\n"


def run(
    argv: list[str],
    *,
    stdin: str = "",
    env: dict[str, str] | None = None,
    encoding: str = "utf-8",
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, *argv],
        input=stdin,
        capture_output=True,
        encoding=encoding,
        env=environment,
        cwd=REPO,
        timeout=120,
    )


def windowsish(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The CLI in a Python without fcntl, fork and register_at_fork."""
    return run(["-c", STANDIN_CLI, *args], stdin=stdin)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_the_standin_really_lacks_what_windows_lacks() -> None:
    probe = STANDIN + textwrap.dedent(
        """
        try:
            import fcntl
        except ImportError:
            print("no fcntl")
        print("fork" if hasattr(os, "fork") else "no fork")
        print("register" if hasattr(os, "register_at_fork") else "no register_at_fork")
        from kaskada import _session
        from kaskada.config import atomic as _atomic
        from kaskada.settings import resolve as _resolve
        from kaskada.credentials import tokens as _token
        from kaskada.transport import sync as _transport
        import filelock
        print(filelock.FileLock.__name__)
        """
    )
    lines = ok(run(["-c", probe])).split()
    assert lines[:5] == ["no", "fcntl", "no", "fork", "no"]
    assert "register_at_fork" in lines
    assert lines[-1] == "SoftFileLock"  # filelock's fallback; on Windows it is WindowsFileLock


@pytest.mark.real_keyring
def test_profile_lifecycle_without_fcntl_and_fork(
    real_keyring: str, isolated_environment: Path
) -> None:
    ok(windowsish("profile", "add", "dev", "--client-id", "a", "--secret-stdin", stdin="s1\n"))
    ok(windowsish("profile", "add", "prod", "--client-id", "b", "--secret-stdin", stdin="s2\n"))
    listed = json.loads(ok(windowsish("profile", "list", "--json")))
    assert [row["name"] for row in listed] == ["dev", "prod"]
    ok(windowsish("profile", "use", "prod"))
    current = json.loads(ok(windowsish("profile", "current", "--json")))
    assert current["settings"]["client_id"]["value"] == "b", current
    ok(windowsish("profile", "rename", "dev", "staging"))
    shown = json.loads(ok(windowsish("profile", "show", "staging", "--json")))
    assert shown["client_id"] == "a" and shown["secret_stored"] is True
    ok(windowsish("profile", "remove", "staging"))
    listed = json.loads(ok(windowsish("profile", "list", "--json")))
    assert [(row["name"], row["default"]) for row in listed] == [("prod", True)]
    document = tomllib.loads((isolated_environment / "config.toml").read_text())
    # secret_store = "keyring": kaskada marks where it stored the secret (issue 20)
    assert document == {
        "default_profile": "prod",
        "profiles": {"prod": {"client_id": "b", "secret_store": "keyring"}},
    }


SESSIONS = STANDIN + textwrap.dedent(
    """
    import kaskada as kda
    from kaskada import table
    kda.init(profile="first")
    print(" ".join(sorted(table.list_tables())))
    with kda.session(profile="second"):
        print(" ".join(sorted(table.list_tables())))
    print(" ".join(sorted(table.list_tables())))
    """
)


@pytest.mark.real_keyring
def test_init_and_session_without_fcntl_and_fork(
    real_keyring: str, local_server: Any, isolated_environment: Path
) -> None:
    markers = {}
    for label in ("first", "second"):
        client_id, secret = local_server.add_client(f"{label}_{uuid.uuid4().hex[:8]}")
        markers[label] = f"mark_{label}_{uuid.uuid4().hex[:8]}"
        connection = {
            "client_id": client_id,
            "client_secret": secret,
            "endpoint": local_server.endpoint,
            "exchange_endpoint": local_server.token_url,
            "is_secure": False,
        }
        table.create_table(markers[label], "time", "key", session=kda.session(**connection))
        ok(
            windowsish(
                "profile", "add", label, "--client-id", client_id,
                "--endpoint", local_server.endpoint,
                "--exchange-endpoint", local_server.token_url,
                "--plaintext", "--secret-stdin", stdin=secret + "\n",
            )
        )  # fmt: skip
    lines = ok(run(["-c", SESSIONS])).splitlines()
    assert lines == [markers["first"], markers["second"], markers["first"]]


ADDER = STANDIN + textwrap.dedent(
    """
    from kaskada.config import lifecycle as _profiles
    worker = sys.argv[1]
    for index in range(10):
        _profiles.add_profile(f"w{worker}-{index}", {"client_id": f"id-{worker}-{index}"}, None)
    """
)


def test_four_processes_add_ten_profiles_each_without_fcntl(isolated_environment: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-c", ADDER, str(worker)], cwd=REPO, env=environment)
        for worker in range(4)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    profiles = tomllib.loads((isolated_environment / "config.toml").read_text())["profiles"]
    assert set(profiles) == {f"w{worker}-{index}" for worker in range(4) for index in range(10)}
    assert profiles["w3-9"] == {"client_id": "id-3-9"}


def test_a_symlinked_lock_file_is_refused_without_fcntl(
    isolated_environment: Path, tmp_path: Path
) -> None:
    isolated_environment.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    (isolated_environment / "config.toml.lock").symlink_to(elsewhere)
    result = windowsish("profile", "add", "dev", "--client-id", "a")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is a symbolic link" in result.stderr and "rm " in result.stderr
    assert not elsewhere.exists()


def test_output_under_a_legacy_console_code_page(isolated_environment: Path) -> None:
    """cp1252 cannot encode 客户: the CLI escapes it instead of a UnicodeEncodeError."""
    ok(run(["-m", "kaskada", "profile", "add", "dev", "--client-id", "kunde-ü-客户"]))
    cp1252 = {"PYTHONIOENCODING": "cp1252"}
    for argv in (["profile", "list"], ["profile", "show", "dev"]):
        result = run(["-m", "kaskada", *argv], env=cp1252, encoding="cp1252")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "kunde-ü-\\u5ba2\\u6237" in result.stdout
    listing = run(["-m", "kaskada", "profile", "list", "--json"], env=cp1252, encoding="cp1252")
    listed = json.loads(ok(listing))
    assert listed[0]["client_id"] == "kunde-ü-客户"  # JSON stays exact (ASCII escapes)


def test_a_config_folder_with_spaces_in_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "Application Data" / "kaskada config"
    env = {"KASKADA_CONFIG_DIR": str(folder)}
    ok(run(["-m", "kaskada", "profile", "add", "dev", "--client-id", "a", "--default"], env=env))
    assert (
        json.loads(ok(run(["-m", "kaskada", "profile", "list", "--json"], env=env)))[0]["name"]
        == "dev"
    )
    assert (folder / "config.toml").is_file()


def test_the_config_file_is_written_with_lf_line_endings(isolated_environment: Path) -> None:
    from kaskada.config import lifecycle as _profiles

    _profiles.add_profile("dev", {"client_id": "a", "audience": "aud"}, None)
    data = (isolated_environment / "config.toml").read_bytes()
    assert b"\n" in data and b"\r" not in data


def test_fork_hooks_are_registered_only_where_fork_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    from kaskada import _fork

    calls: list[object] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **kw: calls.append(kw), raising=False)
    _fork.in_child_after_fork(lambda: None)
    assert len(calls) == 1
    monkeypatch.delattr(os, "register_at_fork")
    handler = _fork.in_child_after_fork(lambda: None)  # no AttributeError without it
    assert callable(handler) and len(calls) == 1


def test_full_flush_uses_f_fullfsync_on_macos(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import fcntl

    from kaskada.config import atomic as _atomic

    requests: list[int] = []
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(fcntl, "F_FULLFSYNC", 51, raising=False)
    monkeypatch.setattr(fcntl, "fcntl", lambda fd, op, *rest: requests.append(op) or 0)
    monkeypatch.setattr(os, "fsync", lambda fd: requests.append(-1))
    with open(tmp_path / "f", "wb") as handle:
        _atomic.full_flush(handle.fileno())
    assert requests == [51]  # the full flush, not a plain fsync


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kaskada.config import atomic as _atomic
    with _atomic.locked(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes stdin (or kills this process)
    """
)


WAITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kaskada.config import atomic as _atomic
    from kaskada._errors import ConfigError
    try:
        with _atomic.locked(Path(sys.argv[1]), timeout=float(sys.argv[2])):
            print("acquired")
    except ConfigError as error:
        print(error)
    """
)


@pytest.mark.parametrize("prelude", ["", STANDIN], ids=["native", "without-fcntl"])
def test_a_held_lock_times_out_naming_the_lock_file(prelude: str, tmp_path: Path) -> None:
    """Holder and waiter use the same platform's lock (as all processes on one machine do)."""
    path = tmp_path / "config.toml"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", prelude + HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=environment,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        message = ok(run(["-c", prelude + WAITER, str(path), "0.2"]))
        assert f"{path}.lock stayed locked for 0.2 s" in message
        assert "wait for it or stop it" in message
        holder.stdin.close()  # the holder leaves its with block and releases
        assert holder.wait(timeout=30) == 0
        assert ok(run(["-c", prelude + WAITER, str(path), "5"])) == "acquired\n"
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()


def test_the_os_drops_the_lock_of_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=environment,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait(timeout=30)
    holder.stdout.close()
    assert holder.stdin is not None
    holder.stdin.close()
    assert ok(run(["-c", WAITER, str(path), "5"])) == "acquired\n"
