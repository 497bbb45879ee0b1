"""Issue 22, items 4-7: one endpoint check, the habits of aws and gh, help and exits.

Every test runs the real CLI (``python -m kaskada``) in a child process, with the
isolated config folder of tests/conftest.py; no test needs a keyring unless marked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import KASKADA, cli_env
from tests.helpers import run_cli as run

URL = "http://localhost:50051"
# The one message, whatever the entry; only "(from SOURCE)" differs.
ONE_MESSAGE = (
    f"the endpoint '{URL}'",
    "is a URL, not a gRPC host:port: give it without a scheme, e.g. localhost:50051",
)


def config_file() -> Path:
    return Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml"


def write_config(text: str) -> None:
    path = config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


def saved() -> dict[str, Any]:
    return tomllib.loads(config_file().read_text())


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def assert_one_message(line: str) -> None:
    for part in ONE_MESSAGE:
        assert part in line, line
    assert "IPv6" not in line and ":50051:443" not in line  # the old wrong guesses


# --- item 4: one endpoint parser, one message, one exit code per kind of entry --------------


def test_a_url_as_endpoint_gets_one_message_at_every_entry() -> None:
    typed = [  # typed on the command line: a usage error, exit 2, as argparse's own
        run("profile", "add", "dev", "--client-id", "id", "--endpoint", URL),
    ]
    write_config('[profiles.dev]\nclient_id = "id"\nendpoint = "localhost:50051"\n'
                 'exchange_endpoint = "http://localhost:50052/oauth/token"\n')
    typed.append(run("profile", "set", "dev", "endpoint", URL))
    typed.append(run("profile", "set", "endpoint", URL, "--profile", "dev"))
    for result in typed:
        assert result.returncode == 2, result.stderr
        assert_one_message(error_line(result))
    assert saved()["profiles"]["dev"]["endpoint"] == "localhost:50051"  # nothing changed

    found = [  # found in a file, a variable or an answer: an expected error, exit 1
        run("whoami", env={"KASKADA_CLIENT_ID": "id", "KASKADA_CLIENT_SECRET": "s",
                           "KASKADA_API_ENDPOINT": URL}),  # no KASKADA_AUTH_ENDPOINT either
    ]
    write_config(f'[profiles.f]\nclient_id = "id"\nendpoint = "{URL}"\n'
                 'exchange_endpoint = "http://localhost:50052/oauth/token"\n')
    found.append(run("whoami", "--profile", "f",
                     env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}))
    found.append(run("profile", "show", "f"))
    for result in found:
        assert result.returncode == 1, result.stderr
        assert_one_message(error_line(result))
    assert "(from KASKADA_API_ENDPOINT)" in found[0].stderr
    assert "profile 'f'" in found[1].stderr and str(config_file()) in found[1].stderr

    import kaskada as kda

    with pytest.raises(kda.ConfigError) as raised:
        kda.session(client_id="id", client_secret="s", endpoint=URL)
    assert_one_message(str(raised.value))
    assert "(from argument)" in str(raised.value)
    from kaskada.config.lifecycle import add_profile

    with pytest.raises(kda.ConfigError) as written:
        add_profile("py", {"client_id": "id", "endpoint": URL}, None)
    assert_one_message(str(written.value))


def test_a_missing_port_is_a_usage_error_in_add_and_set() -> None:
    added = run("profile", "add", "dev", "--client-id", "id", "--endpoint", "localhost")
    write_config('[profiles.dev]\nclient_id = "id"\n')
    changed = run("profile", "set", "dev", "endpoint", "localhost")
    for result in (added, changed):
        assert result.returncode == 2
        assert "has no port" in error_line(result) and "localhost:50051" in result.stderr
    timeout = run("profile", "set", "dev", "timeout", "soon")
    key = run("profile", "set", "dev", "endpont", "localhost:1")
    assert timeout.returncode == key.returncode == 2
    assert "did you mean 'endpoint'?" in key.stderr


# --- item 5: habits from aws and gh ---------------------------------------------------------


def test_profile_verbs_take_the_name_from_profile_as_aws_does() -> None:
    write_config('[profiles.dev]\nclient_id = "id"\nendpoint = "localhost:50051"\n'
                 'exchange_endpoint = "http://localhost:50052/oauth/token"\n')
    got = run("profile", "get", "endpoint", "--profile", "dev")
    assert (got.returncode, got.stdout) == (0, "localhost:50051\n"), got.stderr
    assert run("--profile", "dev", "profile", "get", "endpoint").stdout == "localhost:50051\n"
    assert run("profile", "get", "dev", "endpoint").stdout == "localhost:50051\n"
    shown = run("profile", "show", "--profile", "dev", env={
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert shown.returncode == 0 and "profile dev" in shown.stdout, shown.stderr
    assert run("profile", "set", "timeout", "60", "--profile", "dev").returncode == 0
    assert saved()["profiles"]["dev"]["timeout"] == 60
    assert run("profile", "unset", "timeout", "--profile", "dev").returncode == 0
    assert "timeout" not in saved()["profiles"]["dev"]
    both = run("profile", "get", "dev", "endpoint", "--profile", "prod")
    assert both.returncode == 2 and "give one of them" in both.stderr
    neither = run("profile", "show")
    assert neither.returncode == 2 and "--profile NAME" in neither.stderr


def test_a_global_option_a_verb_cannot_honour_is_refused() -> None:
    for args in (("profile", "current", "--profile", "prod"),
                 ("--profile", "prod", "profile", "current")):
        result = run(*args)
        assert result.returncode == 2
        assert "kaskada profile show NAME" in error_line(result)
    for args in (("serve", "--profile", "x"), ("--json", "completion", "bash"),
                 ("--timeout", "5", "profile", "list"), ("logout", "--json")):
        result = run(*args)
        assert result.returncode == 2, args
        assert "means nothing here" in error_line(result)


def test_configure_list_lists_what_is_configured_as_aws_does() -> None:
    write_config('default_profile = "dev"\n[profiles.dev]\nclient_id = "id-dev"\n'
                 '[profiles.prod]\nclient_id = "id-prod"\nendpoint = "prod.example.com:443"\n'
                 'exchange_endpoint = "https://auth.example.com/oauth/token"\n')
    null = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    current = run("configure", "list", env={**null, "KASKADA_CLIENT_SECRET": "unused"})
    assert run("profile", "current", env=null).stdout == run("configure", "list", env=null).stdout
    assert current.returncode in (0, 4)
    named = run("configure", "list", "--profile", "prod", env=null)
    assert named.returncode == 0 and "prod.example.com:443" in named.stdout, named.stderr
    names = run("configure", "list-profiles")
    assert names.stdout == "dev\nprod\n"
    assert run("configure", "list", "--tls").returncode == 2


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("profiles",), "did you mean 'profile'?"),
        (("tables", "list"), "did you mean 'table'?"),
        (("profile", "lsit"), "did you mean 'list'?"),
        (("table", "delte", "x"), "did you mean 'delete'?"),
        (("completion", "bsh"), "did you mean 'bash'?"),
    ],
)
def test_did_you_mean_for_verbs_and_subcommands(args: tuple[str, ...], suggestion: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert suggestion in error_line(result)


def test_common_aliases_work() -> None:
    write_config('[profiles.a]\nclient_id = "a"\n[profiles.b]\nclient_id = "b"\n'
                 '[profiles.c]\nclient_id = "c"\n')
    listed = run("profile", "ls")
    assert listed.returncode == 0 and "a" in listed.stdout
    null = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for verb, name in (("delete", "a"), ("rm", "b")):
        removed = run("profile", verb, name, "--keep-orphan", env=null)
        assert removed.returncode == 0, removed.stderr
        assert name not in saved()["profiles"]
    for args in (("table", "ls", "--help"), ("table", "rm", "--help")):
        assert run(*args).returncode == 0


# --- item 6: help, exit codes, checks at add time, prompts, broken pipes -----------------


def test_help_lists_only_the_options_a_verb_uses() -> None:
    for verb in (("serve",), ("completion",), ("demo",), ("profile", "add"),
                 ("profile", "list"), ("profile", "export")):
        text = run(*verb, "--help").stdout
        for flag in ("--profile", "--timeout"):
            if verb != ("profile", "add") or flag != "--timeout":  # add saves a timeout
                assert flag not in text, (verb, flag)
        if verb[0] in ("serve", "completion", "demo") or verb[-1] == "export":
            assert "--json" not in text, verb
        assert "--debug" in text
    for verb in (("whoami",), ("table", "list"), ("profile", "check")):
        text = run(*verb, "--help").stdout
        assert all(flag in text for flag in ("--profile", "--json", "--timeout")), verb
    check = run("profile", "check", "--help").stdout
    assert "then 30" not in check and "(default 10)" in check


def test_global_options_work_before_or_after_verbs_that_use_them() -> None:
    write_config('[profiles.a]\nclient_id = "a"\n')
    before, after = run("--json", "profile", "list"), run("profile", "list", "--json")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and before.stdout.startswith("[")


def test_serve_with_a_certificate_and_no_key_is_a_usage_error(tmp_path: Path) -> None:
    result = run("serve", "--tls-cert", str(tmp_path / "cert.pem"), "--port", "0",
                 "--token-port", "0", "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 2
    assert "--tls-key" in error_line(result)


def test_a_ca_bundle_without_a_certificate_is_refused_when_saved(tmp_path: Path) -> None:
    not_pem = tmp_path / "hostname"
    not_pem.write_text("myhost\n")
    added = run("profile", "add", "dev", "--client-id", "id", "--ca-bundle", str(not_pem))
    assert added.returncode == 1
    assert "holds no PEM certificate" in error_line(added)
    assert not config_file().exists()
    write_config('[profiles.dev]\nclient_id = "id"\n')
    changed = run("profile", "set", "dev", "ca_bundle", str(not_pem))
    assert changed.returncode == 1 and "holds no PEM certificate" in error_line(changed)
    assert "ca_bundle" not in saved()["profiles"]["dev"]


@pytest.mark.real_keyring
def test_configure_prompts_show_the_default_they_will_use(real_keyring: str) -> None:
    result = run("configure", "--profile", "dev", input="id\n\n\n\n\n")
    assert result.returncode == 0, result.stderr
    assert "[]" not in result.stderr
    assert "API endpoint (host:port) [localhost:50051" in result.stderr
    assert "Token endpoint (URL) [http://localhost:50052/oauth/token" in result.stderr
    assert "Audience [none]" in result.stderr
    elsewhere = run("configure", "--profile", "far", input="id\napi.example.com:443\n")
    assert "Token endpoint (URL) [none: needed with that API endpoint]" in elsewhere.stderr
    # An endpoint typed at the prompt gets the one message too (exit 1: not a flag).
    answered = run("configure", "--profile", "url", input=f"id\n{URL}\n\n\n\n")
    assert answered.returncode == 1
    assert_one_message(error_line(answered))
    assert "url" not in saved()["profiles"]


@pytest.mark.parametrize("args", [("completion", "bash"), ("--help",), ("profile", "list")])
def test_a_closed_pipe_ends_quietly_as_git_and_gh(args: tuple[str, ...]) -> None:
    """The reader is gone before the first write (as `| head -1` after its line): no
    message, and 141 (128 + SIGPIPE), the status a shell shows for git or gh."""
    write_config("".join(f'[profiles.p{i}]\nclient_id = "c{i}"\n' for i in range(2000)))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run([*KASKADA, *args], stdout=write_end, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, env=cli_env(), timeout=60)
    finally:
        os.close(write_end)
    assert process.stderr == b""
    # argparse prints --help itself and ignores a failed write (exit 0, also quiet).
    assert process.returncode == (0 if args == ("--help",) else 141)


def test_exit_codes_are_documented() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert re.search(r"\| 141 \|", readme)


# --- item 7: server add-client --save-profile -------------------------------------------


def _signs_in(client_id: str, secret: str, server: Any) -> bool:
    result = run("whoami", env={"KASKADA_CLIENT_ID": client_id, "KASKADA_CLIENT_SECRET": secret,
                                "KASKADA_API_ENDPOINT": server.endpoint,
                                "KASKADA_AUTH_ENDPOINT": server.token_url})
    return result.returncode == 0


@pytest.mark.real_keyring
def test_save_profile_warns_when_nothing_listens(real_keyring: str, tmp_path: Path) -> None:
    result = run("server", "add-client", "--account", "dev", "--db", str(tmp_path / "db.sqlite3"),
                 "--scrypt-n", "16", "--save-profile", "dev")
    assert result.returncode == 0, result.stderr
    assert "saved profile 'dev'" in result.stderr
    warning = [line for line in result.stderr.splitlines() if "nothing listens" in line]
    assert len(warning) == 1 and "localhost:50051" in warning[0], result.stderr
    assert "kaskada serve" in warning[0]


@pytest.mark.real_keyring
def test_save_profile_with_force_revokes_the_client_it_replaces(
    real_keyring: str, local_server: Any
) -> None:
    def add() -> tuple[str, str, str]:
        result = run("server", "add-client", "--account", "dev", "--db", str(local_server.db),
                     "--scrypt-n", "16", "--save-profile", "dev", "--force", "--json")
        assert result.returncode == 0, result.stderr
        made = json.loads(result.stdout)
        return made["client_id"], made["client_secret"], result.stderr

    first_id, first_secret, first_notes = add()
    assert "revoked" not in first_notes and "nothing listens" not in first_notes
    assert _signs_in(first_id, first_secret, local_server)
    second_id, second_secret, notes = add()
    assert f"revoked the profile's old client {first_id}" in notes
    assert not _signs_in(first_id, first_secret, local_server)
    assert _signs_in(second_id, second_secret, local_server)
    assert run("whoami", "--profile", "dev").returncode == 0
