"""A keyring that asks for its own password (keyrings.cryptfile), driven through a
real pseudo-terminal as a person would (issue 20, finding 3).

A shell runs in the pty; kaskada runs in that shell. The old code cut the
keyring's prompt after KASKADA_KEYRING_TIMEOUT (5 s), left the terminal with
echo off and the password typed after that went to the shell ("command not
found", into its history). Here the password is typed after 10 s on purpose:
that wait is what is being tested, not a guess at how long something takes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FORK_THEN_EXEC, ROOT

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("a POSIX pseudo-terminal", allow_module_level=True)

pexpect = pytest.importorskip("pexpect")
pytestmark = [pytest.mark.slow, FORK_THEN_EXEC]  # a person's 10 s pause, twice; pexpect
pytest.importorskip("keyrings.cryptfile")

PASSWORD = "hunter2-keyring"
SECRET = "canary-pty-31f9"
SLOW = 10  # seconds a person takes to type: twice the default KASKADA_KEYRING_TIMEOUT


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DBUS_SESSION_BUS_ADDRESS",) and not key.startswith("KASKADA_")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        KASKADA_CONFIG_DIR=str(tmp_path / "config"),
        KASKADA_CACHE_DIR=str(tmp_path / "cache"),
        KASKADA_KEYRING_SERVICE=f"kaskada-pty-{os.getpid()}",
        PYTHON_KEYRING_BACKEND="keyrings.cryptfile.cryptfile.CryptFileKeyring",
        XDG_DATA_HOME=str(tmp_path / "data"),
        HOME=str(tmp_path),
        HISTFILE=str(tmp_path / "history"),
        PS1="$ ",
        TERM="dumb",
    )
    child = pexpect.spawn(
        "bash", ["--norc", "--noprofile", "-i"], env=env, encoding="utf-8", timeout=60,
        cwd=str(ROOT), dimensions=(24, 200),
    )
    child.expect_exact("$ ")
    yield child
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()


def _kaskada(*args: str) -> str:
    return " ".join([sys.executable, "-m", "kaskada", *args])


def _echo_is_on(shell: Any) -> bool:
    shell.sendline("stty -a | tr ' ' '\\n' | grep -x -e echo -e -echo")
    shell.expect(r"\r\n(-?echo)\r\n")
    answer: str = shell.match.group(1)
    shell.expect_exact("$ ")
    return answer == "echo"


def test_a_password_typed_after_the_timeout_is_accepted(shell: Any) -> None:
    shell.sendline(_kaskada("profile", "add", "p", "--client-id", "x"))
    shell.expect_exact("Client secret for p (hidden; Enter for none): ")
    shell.sendline(SECRET)
    shell.expect_exact("Please set a password for your new keyring: ")
    time.sleep(SLOW)  # a person thinking: longer than KASKADA_KEYRING_TIMEOUT
    shell.sendline(PASSWORD)
    shell.expect_exact("Please confirm the password: ")
    shell.sendline(PASSWORD)
    shell.expect_exact("saved profile 'p' with its secret in the keyring")
    shell.expect_exact("$ ")
    assert _echo_is_on(shell)
    # Read back in a new process: the keyring asks for its password again.
    shell.sendline(_kaskada("profile", "show", "p"))
    shell.expect_exact("Please enter password for encrypted keyring: ")
    time.sleep(SLOW)
    shell.sendline(PASSWORD)
    shell.expect_exact("secret: stored in the keyring, bound to these settings")
    shell.expect_exact("$ ")
    assert _echo_is_on(shell)
    shell.sendline("history | grep -c 'hunte[r]2' || true")
    shell.expect(r"\r\n(\d+)\r\n")
    assert shell.match.group(1) == "0"  # the password never reached the shell
    assert "command not found" not in shell.before


def test_ctrl_c_at_the_prompt_restores_the_terminal_and_keeps_the_typing(shell: Any) -> None:
    shell.sendline(_kaskada("profile", "add", "p", "--client-id", "x"))
    shell.expect_exact("Client secret for p (hidden; Enter for none): ")
    shell.sendline(SECRET)
    shell.expect_exact("Please set a password for your new keyring: ")
    shell.send("hunt")  # half a password, then Ctrl-C
    shell.sendcontrol("c")
    shell.expect_exact("$ ")
    shell.sendline("echo rc=$?")
    shell.expect(r"rc=(\d+)")
    assert shell.match.group(1) != "0"
    shell.expect_exact("$ ")
    assert _echo_is_on(shell)
    shell.sendline("history | grep -c 'hun[t]' || true")
    shell.expect(r"\r\n(\d+)\r\n")
    assert shell.match.group(1) == "0"
    assert "command not found" not in shell.before
    shell.sendline(_kaskada("profile", "list", "--names"))
    shell.expect_exact("$ ")
    assert "p\r\n" not in shell.before  # nothing saved


def test_with_secret_stdin_the_keyring_prompt_still_reaches_the_terminal(shell: Any) -> None:
    shell.sendline(f"printf %s {SECRET} | " + _kaskada("profile", "add", "q", "--client-id",
                                                       "x", "--secret-stdin"))
    shell.expect_exact("Please set a password for your new keyring: ")
    shell.sendline(PASSWORD)
    shell.expect_exact("Please confirm the password: ")
    shell.sendline(PASSWORD)
    shell.expect_exact("saved profile 'q' with its secret in the keyring")
    shell.expect_exact("$ ")
    assert _echo_is_on(shell)
