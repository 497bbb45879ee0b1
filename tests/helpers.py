"""Helpers shared by the tests: one CLI runner, one /proc fd counter, one scripted
TableService host, an account on a local server, the server's token count, the
CLI's one-line error.

Kept here (not copied into each module) so that every test starts the CLI the
same way: ``python -m kaskada`` of this checkout, with the test's environment
(its config folder and keyring service) plus any overrides.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import kaskada as kda
from kaskada import profiles

ROOT = Path(__file__).resolve().parent.parent
KASKADA = (sys.executable, "-m", "kaskada")


@contextlib.contextmanager
def table_service(servicer: Any, workers: int = 4) -> Iterator[str]:
    """A real gRPC server on a free loopback port answering TableService with
    ``servicer`` (a scripted or hostile one); yields its ``host:port``."""
    from concurrent import futures

    import grpc

    from kaskada.api.v1alpha import table_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(workers))
    table_pb2_grpc.add_TableServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, this checkout on PYTHONPATH, then ``env`` on top."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(ROOT)
    child_env.update(env or {})
    return child_env


def run_cli(
    *args: str,
    input: str | None = "",
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``kaskada ARGS…`` in a child process; never raises on a non-zero exit.

    stdin is empty by default (a pipe, not a terminal), so no command waits
    for a prompt; pass ``input=None`` to inherit it.
    """
    return run_process([*KASKADA, *args], input=input, env=env, timeout=timeout, cwd=cwd)


def run_process(
    argv: Sequence[str],
    *,
    input: str | None = "",
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run any command with :func:`cli_env` (e.g. ``python -c`` that imports kaskada),
    in the repository's root unless ``cwd`` says otherwise."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        input=input,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd if cwd is not None else ROOT,
        check=False,
    )


def open_fds(pid: int | str = "self", *, under: Path | str | None = None) -> list[str]:
    """The targets of a process's open file descriptors (Linux /proc), optionally
    only those under a path (e.g. a database and its -wal/-shm files)."""
    targets = []
    folder = f"/proc/{pid}/fd"
    for fd in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if under is None or target.startswith(str(under)):
            targets.append(target)
    return targets


def secret_service_problem() -> str | None:
    """Why no Secret Service is usable here, or None when one is."""
    import uuid

    try:
        from keyring.backends import SecretService
    except ImportError as error:  # pragma: no cover - keyring is a dependency
        return f"keyring cannot be imported: {error}"
    backend = SecretService.Keyring()
    try:
        if backend.priority <= 0:  # type: ignore[operator]
            return "the SecretService backend reports itself unusable"
    except Exception as error:  # any failure means "not usable", with its text
        return f"no Secret Service on the session bus: {error}"
    probe = f"kaskada-probe-{uuid.uuid4().hex}"
    try:
        backend.set_password(probe, "probe", "probe")
        backend.delete_password(probe, "probe")
    except Exception as error:
        return f"the Secret Service refused a write: {error}"
    return None


def require_real_keyring() -> None:
    """Skip (with the reason) when no Secret Service is usable; fail instead when
    KASKADA_REQUIRE_REAL_KEYRING=1 (CI sets it)."""
    import pytest

    problem = secret_service_problem()
    if problem is not None:
        if os.environ.get("KASKADA_REQUIRE_REAL_KEYRING") == "1":
            pytest.fail(f"KASKADA_REQUIRE_REAL_KEYRING=1 but {problem}")
        pytest.skip(problem)


class Account:
    """A fresh client of a server, and every way a test reaches its account: keyword
    arguments, profile fields, the environment, the magics' options. Unless
    ``mark=False``, a marker table names the account in listings."""

    def __init__(self, server: Any, label: str, *, mark: bool = True) -> None:
        self.server = server
        self.name = f"{label}_{uuid.uuid4().hex[:8]}"
        self.client_id, self.secret = server.add_client(self.name)
        self.endpoint: str = server.endpoint
        self.token_url: str = server.token_url
        self.options = (
            f"--endpoint {self.endpoint} --exchange-endpoint {self.token_url} --plaintext"
        )
        self.marker = f"mark_{self.name}"
        if mark:
            self.make_table(self.marker)

    def make_table(self, name: str, entity: str = "key") -> None:
        """Create a table in this account, through the client."""
        from kaskada import table  # loads grpc: only for tests that make calls

        table.create_table(name, "time", entity, session=self.session())

    def profile_fields(self) -> dict[str, Any]:
        """The fields of a profile that reaches this account (its secret stored apart)."""
        return server_fields(self.server, self.client_id)

    def kwargs(self) -> dict[str, Any]:
        return {**self.profile_fields(), "client_secret": self.secret}

    def session(self, **extra: Any) -> kda.Session:
        return kda.session(**self.kwargs(), **extra)

    def save_profile(self, name: str, *, default: bool = False) -> None:
        profiles.add(name, self.profile_fields(), secret=self.secret, default=default)

    def set_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KASKADA_CLIENT_ID", self.client_id)
        monkeypatch.setenv("KASKADA_CLIENT_SECRET", self.secret)
        monkeypatch.setenv("KASKADA_API_ENDPOINT", self.endpoint)
        monkeypatch.setenv("KASKADA_AUTH_ENDPOINT", self.token_url)
        monkeypatch.setenv("KASKADA_IS_SECURE", "false")


def server_fields(server: Any, client_id: str | None = None) -> dict[str, Any]:
    """Profile fields that reach a local ``server`` (plaintext on loopback)."""
    fields = {"endpoint": server.endpoint, "exchange_endpoint": server.token_url,
              "is_secure": False}
    return fields if client_id is None else {"client_id": client_id, **fields}


# -- where a profile's secret lives (the env, command and file stores) ---------------


def python_command(code: str) -> list[str]:
    """An argument list running ``code`` in this interpreter (a ``secret_command``)."""
    return [sys.executable, "-c", code]


def printing_command(folder: Path, secret: str) -> list[str]:
    """A ``secret_command`` that prints ``secret``, kept in a 0600 file under ``folder``
    (so that the command line itself holds no secret)."""
    holder = folder / "holder"
    holder.write_text(secret + "\n")
    holder.chmod(0o600)
    return python_command(f"print(open({str(holder)!r}).read())")


def saved_config() -> dict[str, Any]:
    """The test's config.toml as the CLI left it, parsed."""
    import tomllib

    return tomllib.loads((Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml").read_text())


def issued(server: Any, client_id: str) -> int:
    """How many tokens the server has issued to ``client_id`` (its own store)."""
    with sqlite3.connect(server.db) as connection:
        row = connection.execute(
            "SELECT count(*) FROM tokens WHERE client_id = ?", (client_id,)
        ).fetchone()
    return int(row[0])


def assert_one_line_error(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    """The CLI failed with exit 1 and one ``kaskada: error:`` line holding ``parts``; that line."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kaskada: error:")]
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def files_containing(folder: Path, needle: str) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    ]


def cache_dir() -> Path:
    return Path(os.environ["KASKADA_CACHE_DIR"])


def entries() -> list[Path]:
    folder = cache_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def add_profile(server: Any, name: str, force: bool = False, **extra: Any) -> tuple[str, str]:
    """A new client of ``server`` saved as profile ``name`` (its secret in the keyring)."""
    client_id, secret = server.add_client(f"acct_{uuid.uuid4().hex[:8]}")
    profiles.add(name, {**server_fields(server, client_id), **extra}, secret=secret, force=force)
    return client_id, secret


# -- notebooks: a shell's cells and a kernel's outputs --------------------------------

NOTEBOOK = ROOT / "examples" / "notebook-quickstart.ipynb"
SHELL_CANARY = "canary-" + uuid.uuid4().hex  # a wrong secret that no cell may show


def run_cell(ip: Any, source: str, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """Run one cell as a user would; the result and everything printed."""
    result = ip.run_cell(source, store_history=True)
    captured = capsys.readouterr()
    return result, captured.out + captured.err


def visible_tables(ip: Any) -> list[str]:
    """The tables a call from the shell sees now (through the shell's namespace)."""
    ip.run_cell("import kaskada as _kda; _seen = sorted(_kda.table.list_tables())")
    return list(ip.user_ns["_seen"])


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in (SHELL_CANARY, *secrets):
        assert secret not in text


def outputs_text(cell: Any) -> str:
    """A notebook cell's printed text joined (a kernel may split one line across stream
    chunks, e.g. around a warning), then its other outputs as JSON."""
    import json

    outputs = cell.get("outputs", [])
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return printed + "\n" + json.dumps([o for o in outputs if o.get("output_type") != "stream"])


# -- processes of this test run (tests/conftest.py's nothing_left_behind) -----------

RUN_MARK = "KASKADA_TEST_RUN"  # set by conftest for the run; every child inherits it
# multiprocessing's helper processes serve this process until it exits, then end.
_ENDS_WITH_US = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def processes_of_this_run() -> dict[int, str]:
    """pid -> command line of every other process carrying this run's mark (Linux)."""
    mark = f"{RUN_MARK}={os.environ.get(RUN_MARK, '')}".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/environ").exists() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if command and not any(helper in command for helper in _ENDS_WITH_US):
            found[int(entry.name)] = command
    return found


def end_processes(pids: dict[int, str]) -> None:
    """SIGTERM what a test left running, by pid (so a failed run does not leak)."""
    import signal

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


# pexpect starts its child with pty.fork() and the child execs at once: nothing of
# the threaded parent runs in it, so Python 3.12's "multi-threaded, use of forkpty()"
# warning does not apply (conftest's nothing_left_behind asks each such fork to say so).
FORK_THEN_EXEC = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning"
)
