"""``kaskada exec`` and ``kaskada env``: a child gets a token for the right account, never
the secret; an expired handed token says so, when, and how to get a new one.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from kaskada._secret import Secret
from tests.helpers import run_process as run
from tests.helpers import server_fields

ROOT = Path(__file__).resolve().parent.parent
KASKADA = f"{sys.executable} -m kaskada"
DUMP_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.fixture
def accounts(local_server: Any, real_keyring: str) -> dict[str, Any]:
    """Profiles a and b on two accounts, each with one table; b's credentials in the env."""
    import kaskada as kda
    from kaskada import table
    from kaskada.config import lifecycle as _profiles

    made: dict[str, Any] = {}
    for name in ("a", "b"):
        client_id, secret = local_server.add_client(f"acct_{uuid.uuid4().hex[:8]}")
        _profiles.add_profile(name, server_fields(local_server, client_id), Secret(secret))
        table_name = f"{name}_table_{uuid.uuid4().hex[:6]}"
        table.create_table(table_name, "t", "k", session=kda.session(name))
        made[name] = {"client_id": client_id, "secret": secret, "table": table_name}
    # The parent also holds another account's credentials: the child must not see them.
    made["parent_env"] = {
        "KASKADA_CLIENT_ID": made["b"]["client_id"],
        "KASKADA_CLIENT_SECRET": made["b"]["secret"],
        "KASKADA_AUTH_ENDPOINT": local_server.token_url,
        "KASKADA_PROFILE": "b",
    }
    return made


def _check_child(output: str, accounts: dict[str, Any], env: dict[str, str]) -> None:
    assert accounts["a"]["table"] in output
    assert accounts["b"]["table"] not in output
    for name in ("KASKADA_CLIENT_ID", "KASKADA_CLIENT_SECRET", "KASKADA_PROFILE",
                 "KASKADA_AUTH_ENDPOINT", "KASKADA_AUTH_AUDIENCE"):
        assert name not in env
    assert env["KASKADA_TOKEN"] and env["KASKADA_IS_SECURE"] == "false"
    assert env["KASKADA_TOKEN_EXPIRES_AT"].endswith("Z")
    for account in ("a", "b"):
        assert accounts[account]["secret"] not in json.dumps(env)


def test_exec_child_lists_the_right_account_and_never_sees_a_secret(
    accounts: dict[str, Any], local_server: Any
) -> None:
    script = (
        "import json, os, subprocess, sys; "
        "out = subprocess.run([sys.executable, '-m', 'kaskada', 'table', 'list', '--json'], "
        "capture_output=True, text=True); "
        "print(json.dumps({'rc': out.returncode, 'out': out.stdout, 'err': out.stderr, "
        "'env': dict(os.environ)}))"
    )
    result = run(
        [sys.executable, "-m", "kaskada", "exec", "--profile", "a", "--", sys.executable, "-c",
         script],
        env=accounts["parent_env"],
    )
    assert result.returncode == 0, result.stderr
    child = json.loads(result.stdout)
    assert child["rc"] == 0, child["err"]
    _check_child(child["out"], accounts, child["env"])
    assert child["env"]["KASKADA_API_ENDPOINT"] == local_server.endpoint


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_eval_env_in_bash(accounts: dict[str, Any]) -> None:
    script = (
        f'eval "$({KASKADA} env --profile a)" && {KASKADA} table list --json && '
        f"{sys.executable} -c {DUMP_ENV!r}"
    )
    result = run(["bash", "-c", script], env=accounts["parent_env"])
    assert result.returncode == 0, result.stderr
    listing, _, dumped = result.stdout.rpartition("\n{")
    env = json.loads("{" + dumped)
    _check_child(listing, accounts, env)
    assert "holds an access token" not in result.stderr  # not a terminal: no warning


def test_env_formats_quote_for_their_shell(accounts: dict[str, Any]) -> None:
    from kaskada.cli.tokens import render

    hostile = {"KASKADA_TOKEN": "a'b\"c$(x)`y`\\z", "KASKADA_API_ENDPOINT": "h:1"}
    sh = render(hostile, ("KASKADA_CLIENT_SECRET",), "sh")
    out = subprocess.run(
        ["sh", "-c", sh + 'printf %s "$KASKADA_TOKEN"'],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out == hostile["KASKADA_TOKEN"]
    assert "unset KASKADA_CLIENT_SECRET" in sh
    assert json.loads(render(hostile, (), "json")) == hostile
    assert "$Env:KASKADA_TOKEN = 'a''b" in render(hostile, (), "powershell")
    assert "set -gx KASKADA_TOKEN 'a\\'b" in render(hostile, (), "fish")
    result = run([sys.executable, "-m", "kaskada", "env", "--profile", "a", "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {
        "KASKADA_TOKEN", "KASKADA_TOKEN_EXPIRES_AT", "KASKADA_API_ENDPOINT", "KASKADA_IS_SECURE"
    }


def test_env_on_a_terminal_warns_first(accounts: dict[str, Any]) -> None:
    import pty

    code = (
        "import os, pty, sys; "
        "sys.exit(os.waitstatus_to_exitcode(pty.spawn([sys.executable, '-m', 'kaskada', "
        "'env', '--profile', 'a'])))"
    )
    del pty
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert "this output holds an access token" in result.stdout  # the pty merges stderr


def test_exec_exit_status_and_signals_are_the_childs(accounts: dict[str, Any]) -> None:
    base = [sys.executable, "-m", "kaskada", "exec", "--profile", "a", "--"]
    assert run([*base, "sh", "-c", "exit 7"]).returncode == 7
    assert run([*base, "sh", "-c", "kill -TERM $$"]).returncode == -signal.SIGTERM
    missing = run([*base, "no-such-command-here"])
    assert missing.returncode == 1 and "no-such-command-here" in missing.stderr
    assert run([sys.executable, "-m", "kaskada", "exec", "--profile", "a"]).returncode == 2


def test_expired_handed_token_says_when_and_how(local_server: Any) -> None:
    env = {
        "KASKADA_TOKEN": "whatever",
        "KASKADA_TOKEN_EXPIRES_AT": "2020-01-02T03:04:05Z",
        "KASKADA_API_ENDPOINT": local_server.endpoint,
        "KASKADA_IS_SECURE": "false",
    }
    result = run([sys.executable, "-m", "kaskada", "table", "list"], env=env)
    assert result.returncode == 4  # an expired token: credentials, exit 4
    assert "expired at 2020-01-02T03:04:05Z" in result.stderr
    assert "kaskada exec" in result.stderr and "Traceback" not in result.stderr
    assert "whatever" not in result.stderr
    bad = run([sys.executable, "-m", "kaskada", "table", "list"],
              env={**env, "KASKADA_TOKEN_EXPIRES_AT": "tomorrow"})
    assert bad.returncode == 1 and "KASKADA_TOKEN_EXPIRES_AT" in bad.stderr


# -- issue 18, finding 6: every quote a shell treats as one -----------------------------

POWERSHELL_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
HOSTILE_VALUES = [
    f"a{quote}; Write-Host PWNED; {quote}b" for quote in POWERSHELL_SINGLE_QUOTES
] + ["\u2019\u2019'\u2018", "line\nbreak $(x) `y` \\z \"q\" #c", "\u201b"]


def powershell_single_quoted(text: str) -> tuple[str, str]:
    """PowerShell's tokenizer on a '...' literal at the start of ``text``: (value, rest).

    As in PowerShell's Tokenizer.ScanStringLiteral: any of the five single-quote
    characters ends the string unless the next character is one too, in which case
    the pair stands for the first of them.
    """
    assert text[0] in POWERSHELL_SINGLE_QUOTES
    value, index = [], 1
    while index < len(text):
        char = text[index]
        if char in POWERSHELL_SINGLE_QUOTES:
            if index + 1 < len(text) and text[index + 1] in POWERSHELL_SINGLE_QUOTES:
                value.append(char)
                index += 2
                continue
            return "".join(value), text[index + 1:]
        value.append(char)
        index += 1
    raise AssertionError(f"unterminated string: {text!r}")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_powershell_quoting_doubles_every_single_quote_powershell_knows(value: str) -> None:
    from kaskada.cli.tokens import render

    line = render({"KASKADA_CA_BUNDLE": value}, (), "powershell").rstrip("\n")
    prefix = "$Env:KASKADA_CA_BUNDLE = "
    assert line.startswith(prefix)
    parsed, rest = powershell_single_quoted(line[len(prefix):])
    assert rest == ""  # nothing after the string: no command can follow it
    assert parsed == value


@pytest.mark.parametrize("shell", ["sh", "bash", "dash"])
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_sh_quoting_round_trips_unicode_quotes_through_real_shells(shell: str, value: str) -> None:
    from kaskada.cli.tokens import render

    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    script = render({"KASKADA_CA_BUNDLE": value}, (), "sh") + 'printf %s "$KASKADA_CA_BUNDLE"'
    out = subprocess.run(
        [shell, "-c", script], capture_output=True, text=True, check=True, encoding="utf-8"
    ).stdout
    assert out == value and "PWNED" not in out.replace(value, "")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_fish_quoting_round_trips(value: str) -> None:
    """fish is not installed here: its single-quote rule (only \\\\ and \\' are special)
    read back by hand; with fish on PATH the real shell reads it too."""
    from kaskada.cli.tokens import render

    line = render({"KASKADA_CA_BUNDLE": value}, (), "fish").rstrip("\n")
    quoted = line.removeprefix("set -gx KASKADA_CA_BUNDLE ").removesuffix(";")
    assert quoted[0] == "'" and quoted[-1] == "'"
    body, read, index = quoted[1:-1], [], 0
    while index < len(body):
        if body[index] == "\\" and body[index + 1] in "\\'":
            read.append(body[index + 1])
            index += 2
            continue
        assert body[index] != "'", "an unescaped quote would end the string"
        read.append(body[index])
        index += 1
    assert "".join(read) == value
    if shutil.which("fish"):
        out = subprocess.run(
            ["fish", "-c", line + ' printf %s "$KASKADA_CA_BUNDLE"'],
            capture_output=True, text=True, check=True,
        ).stdout
        assert out == value
