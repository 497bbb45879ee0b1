"""The quick start where there is no desktop keyring (issue 20): no D-Bus session at
all, as in a container, CI, WSL or a notebook server.

Every command runs in a child process whose environment has no
DBUS_SESSION_BUS_ADDRESS and no PYTHON_KEYRING_BACKEND, so keyring picks its
backend as it would there. The ways the messages suggest are run as printed
(with the secret and the id filled in where they show ``…`` and ``ID``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import KASKADA, ROOT

if sys.platform == "win32":  # pragma: no cover - POSIX shells and modes
    pytest.skip("headless POSIX runs", allow_module_level=True)


class Headless:
    """A box without a keyring: its own config, cache and data folders."""

    def __init__(self, root: Path, server: Any) -> None:
        self.root = root
        self.server = server
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
            and not key.startswith("KASKADA_")
        }
        self.env.update(
            PYTHONPATH=str(ROOT),
            KASKADA_CONFIG_DIR=str(root / "config"),
            KASKADA_CACHE_DIR=str(root / "cache"),
            KASKADA_DATA_DIR=str(root / "data"),
            KASKADA_KEYRING_SERVICE=f"kaskada-headless-{os.getpid()}",
            XDG_DATA_HOME=str(root / "xdg-data"),  # where file keyrings would write
            HOME=str(root / "home"),
        )

    def run(
        self, argv: list[str], *, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=120,
            env={**self.env, **(env or {})}, cwd=ROOT, check=False,
        )

    def kaskada(
        self, *args: str, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run([*KASKADA, *args], stdin=stdin, env=env)

    def printed(self, line: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a `kaskada …` command exactly as a message printed it."""
        argv = shlex.split(line)
        assert argv[0] == "kaskada", line
        return self.kaskada(*argv[1:], env=env)

    def everything(self) -> str:
        """Every file this box wrote (config, cache, file keyrings, home), as text."""
        seen = []
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and path.name != "server.sqlite3":
                seen.append(f"{path}\n{path.read_bytes().decode('utf-8', 'replace')}")
        return "\n".join(seen)


@pytest.fixture
def box(tmp_path: Path, start_server: Any) -> Headless:
    server = start_server()
    return Headless(tmp_path / "box", server)


def _add_client(box: Headless) -> tuple[str, str, list[str]]:
    """`kaskada server add-client --save-profile dev` with no keyring: the id, the
    secret (shown once) and the ways it printed."""
    done = box.kaskada(
        "server", "add-client", "--account", f"acct{os.getpid()}", "--db", str(box.server.db),
        "--save-profile", "dev", "--default",
    )
    assert done.returncode == 0, done.stderr
    client_id = re.search(r"client_id:\s+(\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret:\s+(\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    assert "WITHOUT its secret" in done.stderr
    assert done.stdout.count(secret) == 1 and secret not in done.stderr
    ways = [line.strip() for line in done.stderr.splitlines() if line.startswith("  ")]
    assert [way.split(":")[0] for way in ways] == [
        "a variable", "a command", "a plain-text file (0600, opt-in)", "no profile"
    ]
    return client_id, secret, ways


def test_quick_start_with_a_variable(box: Headless) -> None:
    _client_id, secret, ways = _add_client(box)
    command, export = ways[0].removeprefix("a variable:").split("  then  ")
    assert box.printed(command.strip()).returncode == 0
    variable = export.strip().removeprefix("export ").split("=")[0]
    done = box.kaskada("table", "list", env={variable: secret})
    assert done.returncode == 0, done.stderr
    shown = box.kaskada("profile", "show", "dev")
    assert f"read from the environment variable {variable}" in shown.stdout
    whoami = box.kaskada("whoami", env={variable: secret})
    assert f"environment variable {variable}" in whoami.stdout, whoami.stdout
    assert secret not in box.everything()


def test_quick_start_with_a_command(box: Headless) -> None:
    _client_id, secret, ways = _add_client(box)
    command = ways[1].removeprefix("a command:").split("  (")[0].strip()
    assert box.printed(command).returncode == 0  # as printed: `pass show kaskada/dev`
    assert "pass show kaskada/dev" in box.kaskada("profile", "show", "dev").stdout
    # This box has no `pass`: a stand-in that prints the secret from a private file.
    holder = box.root / "vault" / "dev"
    holder.parent.mkdir(parents=True)
    holder.write_text(secret)
    holder.chmod(0o600)
    assert box.kaskada("profile", "set", "dev", "secret_command", f"cat {holder}").returncode == 0
    done = box.kaskada("table", "list")
    assert done.returncode == 0, done.stderr
    listed = box.kaskada("profile", "list").stdout
    assert re.search(r"dev\s+\S+\s+command", listed), listed
    assert box.everything().count(secret) == 1  # the stand-in vault, nowhere else


def test_quick_start_with_insecure_storage(box: Headless) -> None:
    _client_id, secret, ways = _add_client(box)
    line = ways[2].split(":  ", 1)[1]
    printf, command = line.split(" | ")
    assert printf == "printf %s '…'"
    done = box.run([*KASKADA, *shlex.split(command)[1:]], stdin=secret)
    assert done.returncode == 0, done.stderr
    path = box.root / "config" / "secrets" / "dev.json"
    assert f"plain-text file {path}" in done.stderr
    assert box.kaskada("table", "list").returncode == 0
    assert "plain-text file" in box.kaskada("profile", "show", "dev").stdout
    everything = box.everything()
    assert everything.count(secret) == 1 and f"{path}\n" in everything  # there, nowhere else


def test_quick_start_with_the_two_variables(box: Headless) -> None:
    _client_id, secret, ways = _add_client(box)
    assignments = shlex.split(ways[3].removeprefix("no profile:").strip())[1:]
    env = dict(item.split("=", 1) for item in assignments)
    assert env["KASKADA_CLIENT_SECRET"] == "…"
    env["KASKADA_CLIENT_SECRET"] = secret
    done = box.kaskada("table", "list", env=env)
    assert done.returncode == 0, done.stderr


def test_the_profile_variable_advice_does_not_go_in_a_circle(box: Headless) -> None:
    """Finding 1: with KASKADA_CLIENT_SECRET set, `--profile dev` said "supply the secret
    as KASKADA_CLIENT_SECRET". Now it says how to make that variable the profile's."""
    _client_id, secret, _ways = _add_client(box)
    env = {"KASKADA_CLIENT_SECRET": secret}
    failed = box.kaskada("--profile", "dev", "whoami", env=env)
    assert failed.returncode != 0
    suggested = re.search(r"`(kaskada profile set dev secret_env KASKADA_CLIENT_SECRET)`",
                          failed.stderr)
    assert suggested, failed.stderr
    assert "Traceback" not in failed.stderr and secret not in failed.stderr
    assert box.printed(suggested.group(1)).returncode == 0
    done = box.kaskada("--profile", "dev", "whoami", env=env)
    assert done.returncode == 0, done.stderr


def test_every_way_a_no_keyring_error_names_works_as_printed(box: Headless) -> None:
    _client_id, secret, _ = _add_client(box)
    failed = box.kaskada("--profile", "dev", "table", "list")
    assert failed.returncode != 0
    commands = re.findall(r"`(kaskada [^`]+)`", failed.stderr)
    env_way = next(c for c in commands if "secret_env" in c)
    command_way = next(c for c in commands if "secret_command" in c)
    file_way = next(c for c in commands if "--insecure-storage" in c)
    assert "KASKADA_CLIENT_ID=ID KASKADA_CLIENT_SECRET=…" in failed.stderr
    variable = env_way.split()[-1]
    assert box.printed(env_way).returncode == 0
    assert box.kaskada("table", "list", env={variable: secret}).returncode == 0
    assert box.printed(command_way).returncode == 0
    assert "pass show kaskada/dev" in box.kaskada("profile", "get", "dev", "secret_command").stdout
    # `configure --insecure-storage` asks its questions: Enter keeps each, then the secret.
    done = box.run([*KASKADA, *shlex.split(file_way)[1:]], stdin="\n\n\n\n" + secret + "\n")
    assert done.returncode == 0, done.stderr
    assert box.kaskada("table", "list").returncode == 0


def test_remove_and_rename_need_no_keyring(box: Headless) -> None:
    for name in ("a", "b"):
        assert box.kaskada("profile", "add", name, "--client-id", "x").returncode == 0
    renamed = box.kaskada("profile", "rename", "a", "c")
    assert renamed.returncode == 0, renamed.stderr
    removed = box.kaskada("profile", "remove", "b")
    assert removed.returncode == 0, removed.stderr
    assert box.kaskada("profile", "list", "--names").stdout.split() == ["c"]


def test_a_plain_text_keyring_picked_by_itself_is_refused_and_the_opt_in_uses_our_file(
    box: Headless,
) -> None:
    """As on a box where `pip install keyrings.alt` is all there is: keyring picks the
    plain-text backend by itself (the encrypted ones lack their crypto libraries)."""
    stubs = box.root / "stubs"
    for module in ("Crypto", "argon2"):
        (stubs / module).mkdir(parents=True)
        (stubs / module / "__init__.py").write_text("raise ImportError('not on this box')\n")
    env = {"PYTHONPATH": f"{stubs}{os.pathsep}{ROOT}"}
    code = (
        "import keyring; from kaskada.credentials import keyring as _keyring; "
        "print(_keyring.plain_text_file(keyring.get_keyring()))"
    )
    probe = box.run([sys.executable, "-c", code], env=env)
    keyring_file = box.root / "xdg-data" / "python_keyring" / "keyring_pass.cfg"
    assert probe.stdout.strip() == str(keyring_file), probe.stdout + probe.stderr
    secret = "canary-plain-7c1d"
    refused = box.kaskada("profile", "add", "p", "--client-id", "x", "--secret-stdin",
                          stdin=secret, env=env)
    assert refused.returncode != 0
    assert "PlaintextKeyring" in refused.stderr and str(keyring_file) in refused.stderr
    assert "--insecure-storage" in refused.stderr
    assert secret not in box.everything()
    opted = box.kaskada("profile", "add", "p", "--client-id", "x", "--secret-stdin",
                        "--insecure-storage", stdin=secret, env=env)
    assert opted.returncode == 0, opted.stderr
    named = re.search(r"plain-text file (\S+) ", opted.stderr)
    assert named, opted.stderr
    everything = box.everything()
    assert everything.count(secret) == 1 and f"{named.group(1)}\n" in everything


def test_a_keyring_that_asks_for_a_password_where_nobody_can_answer_says_why(
    box: Headless,
) -> None:
    """keyrings.cryptfile with --secret-stdin and no terminal: one line naming the
    backend and the reason (it was a bare EOFError), never a hang, no hint to use
    the backend already in use."""
    env = {"PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring"}
    done = subprocess.run(
        [*KASKADA, "profile", "add", "p", "--client-id", "x", "--secret-stdin"],
        input="canary-cryptfile-5e2a", capture_output=True, text=True, timeout=120,
        env={**box.env, **env}, cwd=ROOT, check=False, start_new_session=True,  # no tty
    )
    assert done.returncode != 0
    assert "CryptFileKeyring asks for its own password on a terminal" in done.stderr
    assert "no terminal" in done.stderr or "is a terminal" in done.stderr
    assert "EOFError" not in done.stderr and "Traceback" not in done.stderr
    assert "keyrings.cryptfile" not in done.stderr.split("ways that need no keyring")[1]
    assert "--secret-env" in done.stderr
