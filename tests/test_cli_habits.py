"""Issue 15: the CLI as users of aws, gh, gcloud and databricks expect it.

Every test runs the real CLI (``python -m kaskada``) in a child process against
a real local server (tests/server_fixtures.py); TLS uses a certificate made
here. Tests that store secrets use the real Secret Service (``real_keyring``).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.certs import make_leaf
from tests.helpers import run_cli as run
from tests.helpers import run_process
from tests.helpers import saved_config as config

ROOT = Path(__file__).resolve().parent.parent
GRPC_LOG_LINE = re.compile(r"^[IEW]\d{4} ", re.MULTILINE)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA), and its key."""
    leaf = make_leaf(folder)
    return leaf.cert, leaf.key


@pytest.fixture
def tls_server(start_server: Any, tmp_path: Path) -> Any:
    cert, key = self_signed(tmp_path)
    server = start_server(tls_cert=cert, tls_key=key)
    server.cert = cert
    return server


def add_profile(name: str, server: Any, *flags: str) -> str:
    client_id, secret = server.add_client(f"acct_{uuid.uuid4().hex[:8]}")
    result = run("profile", "add", name, "--client-id", client_id, "--endpoint", server.endpoint,
                 "--exchange-endpoint", server.token_url, *flags, "--secret-stdin",
                 input=secret + "\n")
    assert result.returncode == 0, result.stderr
    return client_id


# --- 1. TLS on any host -------------------------------------------------------------------


@pytest.mark.real_keyring
def test_tls_to_a_loopback_server_from_every_entry(real_keyring: str, tls_server: Any) -> None:
    # The banner says how to trust the server.
    assert f"--ca-bundle {tls_server.cert}" in tls_server.log()
    # add-client --save-profile reads the running server's ports and certificate.
    saved = run("server", "add-client", "--account", "tls", "--db", str(tls_server.db),
                "--scrypt-n", "16", "--save-profile", "saved")
    assert saved.returncode == 0, saved.stderr
    assert config()["profiles"]["saved"]["ca_bundle"] == str(tls_server.cert)
    assert run("whoami", "--profile", "saved").returncode == 0
    # profile add with --ca-bundle and an https token endpoint: the gRPC call uses TLS.
    add_profile("bundle", tls_server, "--ca-bundle", str(tls_server.cert))
    result = run("whoami", "--profile", "bundle")
    assert result.returncode == 0, result.stderr
    add_profile("flag", tls_server, "--tls", "--ca-bundle", str(tls_server.cert))
    assert config()["profiles"]["flag"]["is_secure"] is True
    assert run("--profile", "flag", "whoami").returncode == 0


@pytest.mark.real_keyring
def test_configure_takes_tls_flags(real_keyring: str, tls_server: Any) -> None:
    client_id, secret = tls_server.add_client("configured")
    answers = f"{client_id}\n{tls_server.endpoint}\n{tls_server.token_url}\n\n{secret}\n"
    result = run("configure", "--profile", "c", "--tls", "--ca-bundle", str(tls_server.cert),
                 input=answers)
    assert result.returncode == 0, result.stderr
    saved = config()["profiles"]["c"]
    assert saved["is_secure"] is True and saved["ca_bundle"] == str(tls_server.cert)
    assert run("whoami", "--profile", "c").returncode == 0
    # add-client --tls --ca-bundle: explicit, whatever the server's database says.
    flags = run("server", "add-client", "--account", "x", "--db", str(tls_server.db),
                "--scrypt-n", "16", "--save-profile", "explicit", "--tls", "--ca-bundle",
                str(tls_server.cert))
    assert flags.returncode == 0, flags.stderr
    assert run("whoami", "--profile", "explicit").returncode == 0


# --- 2. one field at a time ---------------------------------------------------------------


@pytest.mark.real_keyring
def test_profile_set_get_unset_change_one_field(real_keyring: str, local_server: Any) -> None:
    import keyring

    add_profile("p", local_server, "--plaintext")
    before = config()["profiles"]["p"]
    assert run("profile", "set", "p", "timeout", "60").returncode == 0
    after = config()["profiles"]["p"]
    assert after == {**before, "timeout": 60.0}
    got = run("profile", "get", "p", "timeout")
    assert got.returncode == 0 and got.stdout == "60.0\n"
    assert run("whoami", "--profile", "p").returncode == 0  # the secret stayed
    # A field the secret is bound to: the secret goes, and the CLI says so.
    changed = run("profile", "set", "p", "audience", "https://other.example")
    assert changed.returncode == 0, changed.stderr
    assert "stored secret was removed because audience changed" in changed.stderr
    assert "kaskada configure --profile p" in changed.stderr
    assert keyring.get_password(real_keyring, "p") is None
    assert run("profile", "unset", "p", "timeout").returncode == 0
    assert "timeout" not in config()["profiles"]["p"]
    missing = run("profile", "get", "p", "timeout")
    assert missing.returncode == 1 and "profile set p timeout" in missing.stderr
    typed = json.loads(run("profile", "set", "p", "is_secure", "false", "--json").stdout)
    assert typed["value"] is False


@pytest.mark.real_keyring
def test_every_printed_hint_works_as_printed(real_keyring: str, local_server: Any) -> None:
    client_id, secret = local_server.add_client(f"acct_{uuid.uuid4().hex[:8]}")
    added = run("profile", "add", "h", "--client-id", client_id, "--endpoint",
                local_server.endpoint, "--plaintext", "--secret-stdin", input=secret + "\n")
    assert added.returncode == 0, added.stderr
    failed = run("whoami", "--profile", "h")
    hint = re.search(r"`(kaskada profile set h exchange_endpoint URL)`", failed.stderr)
    assert hint is not None, failed.stderr
    command = [*hint.group(1).split()[1:-1], local_server.token_url]
    changed = run(*command)
    assert changed.returncode == 0
    # exchange_endpoint is bound to the secret: it was dropped, and the way back is printed.
    follow = re.search(r"store it again with: (kaskada configure --profile h)", changed.stderr)
    assert follow is not None, changed.stderr
    stored = run(*follow.group(1).split()[1:], input="\n\n\n\n" + secret + "\n")
    assert stored.returncode == 0, stored.stderr
    assert run("whoami", "--profile", "h").returncode == 0
    # A re-add that keeps the secret does not claim that none is stored.
    again = run("profile", "add", "h", "--client-id", client_id, "--endpoint",
                local_server.endpoint, "--exchange-endpoint", local_server.token_url,
                "--plaintext", "--force")
    assert again.returncode == 0
    assert "(no secret stored)" not in again.stderr and "kept" in again.stderr


# --- 3. host:port at every entry ----------------------------------------------------------


def test_an_endpoint_without_a_port_is_refused_at_every_entry(tmp_path: Path) -> None:
    flag = run("profile", "add", "x", "--client-id", "id", "--endpoint", "127.0.0.1")
    assert flag.returncode == 2 and "127.0.0.1:50051" in flag.stderr
    variable = run("whoami", env={"KASKADA_CLIENT_ID": "id", "KASKADA_CLIENT_SECRET": "s",
                                  "KASKADA_API_ENDPOINT": "127.0.0.1",
                                  "KASKADA_AUTH_ENDPOINT": "http://127.0.0.1:1/oauth/token"})
    assert variable.returncode == 1 and "has no port" in variable.stderr
    assert "KASKADA_API_ENDPOINT" in variable.stderr and "127.0.0.1:50051" in variable.stderr
    folder = Path(os.environ["KASKADA_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        '[profiles.f]\nclient_id = "id"\nendpoint = "127.0.0.1"\n'
        'exchange_endpoint = "http://127.0.0.1:1/oauth/token"\n'
    )
    os.chmod(folder / "config.toml", 0o600)
    from_file = run("whoami", "--profile", "f",
                    env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert "has no port" in from_file.stderr or "keyring" in from_file.stderr
    set_flag = run("profile", "set", "f", "endpoint", "localhost")
    assert set_flag.returncode == 2 and "has no port" in set_flag.stderr  # as the flag (issue 22)

    import kaskada as kda
    from kaskada import ConfigError

    with pytest.raises(ConfigError, match="has no port"):
        kda.session(client_id="id", client_secret="s", endpoint="127.0.0.1",
                    exchange_endpoint="http://127.0.0.1:1/oauth/token")


# --- 4. schemes ---------------------------------------------------------------------------


def _env_for(server: Any, client: tuple[str, str], **extra: str) -> dict[str, str]:
    return {"KASKADA_CLIENT_ID": client[0], "KASKADA_CLIENT_SECRET": client[1],
            "KASKADA_API_ENDPOINT": server.endpoint, "KASKADA_AUTH_ENDPOINT": server.token_url,
            **extra}


def test_a_bare_loopback_token_host_means_http(local_server: Any) -> None:
    client = local_server.add_client("bare")
    bare = local_server.token_url.split("//", 1)[1].split("/", 1)[0]  # 127.0.0.1:PORT
    result = run("whoami", env=_env_for(local_server, client, KASKADA_AUTH_ENDPOINT=bare))
    assert result.returncode == 0, result.stderr


def test_scheme_mismatches_are_named_without_grpc_log_lines(
    tls_server: Any, local_server: Any, tmp_path: Path
) -> None:
    plain_at_tls = run("whoami", env=_env_for(
        tls_server, tls_server.add_client("m1"), KASKADA_CA_BUNDLE=str(tls_server.cert),
        KASKADA_IS_SECURE="false"))
    assert plain_at_tls.returncode == 1
    assert "TLS" in plain_at_tls.stderr and "plaintext" in plain_at_tls.stderr
    assert "not the gRPC port" not in plain_at_tls.stderr
    tls_at_plain = run("whoami", env=_env_for(
        local_server, local_server.add_client("m2"), KASKADA_CA_BUNDLE=str(tls_server.cert),
        KASKADA_IS_SECURE="true"))
    assert tls_at_plain.returncode == 1
    assert "answers in plaintext" in tls_at_plain.stderr
    assert not GRPC_LOG_LINE.search(tls_at_plain.stderr), tls_at_plain.stderr
    assert tls_at_plain.stderr.count("\n") == 1
    http_at_https = run("whoami", env=_env_for(
        tls_server, tls_server.add_client("m3"),
        KASKADA_AUTH_ENDPOINT=tls_server.token_url.replace("https:", "http:")))
    assert "https://" in http_at_https.stderr and "not the gRPC port" not in \
        http_at_https.stderr.split("otherwise")[0]
    # gRPC's own lines come back with --debug.
    debug = run("whoami", "--debug", env=_env_for(
        local_server, local_server.add_client("m4"), KASKADA_CA_BUNDLE=str(tls_server.cert),
        KASKADA_IS_SECURE="true"))
    assert GRPC_LOG_LINE.search(debug.stderr) and "kaskada: debug:" in debug.stderr


def test_serve_on_a_taken_grpc_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--token-port", "0",
                     "--db", str(tmp_path / "db.sqlite3"))
    assert result.returncode == 1
    assert result.stderr.startswith("kaskada: error: ") and result.stderr.count("\n") == 1


# --- 5. timeouts and the word on a terminal -------------------------------------------------


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.real_keyring
def test_kaskada_timeout_applies_under_a_profile(real_keyring: str, black_hole: int) -> None:
    added = run("profile", "add", "hole", "--client-id", "id", "--endpoint",
                f"127.0.0.1:{black_hole}", "--exchange-endpoint",
                f"http://127.0.0.1:{black_hole}/oauth/token", "--secret-stdin",
                input="not-a-real-secret\n")
    assert added.returncode == 0, added.stderr
    # The default is 30 s; a child still waiting after 20 s ignored KASKADA_TIMEOUT.
    result = run("whoami", "--profile", "hole", env={"KASKADA_TIMEOUT": "1"}, timeout=20)
    # An unreachable token endpoint is an outage (try later), not a refusal: exit 1.
    assert result.returncode == 1 and "could not be reached" in result.stderr, result.stderr
    flag = run("table", "list", "--timeout", "1",
               env={"KASKADA_TOKEN": "t", "KASKADA_API_ENDPOINT": f"127.0.0.1:{black_hole}"},
               timeout=20)
    assert flag.returncode == 1 and "DEADLINE_EXCEEDED" in flag.stderr
    import kaskada as kda

    os.environ["KASKADA_TIMEOUT"] = "3"
    try:
        settings = kda.session(client_id="i", client_secret="s").settings
        assert settings.timeout.value == 3.0 and settings.timeout.source == "KASKADA_TIMEOUT"
        assert kda.session(client_id="i", client_secret="s", timeout=5).settings.timeout.value == 5
    finally:
        del os.environ["KASKADA_TIMEOUT"]


def test_a_slow_call_says_what_it_waits_for_and_ctrl_c_stops_it(black_hole: int) -> None:
    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), KASKADA_TOKEN="t",
               KASKADA_API_ENDPOINT=f"127.0.0.1:{black_hole}")
    process = subprocess.Popen(
        [sys.executable, "-m", "kaskada", "table", "list", "--timeout", "60"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=env,
    )
    os.close(follower)
    seen = b""
    try:
        while b"Ctrl-C" not in seen:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no waiting notice; saw {seen!r}"
            seen += os.read(leader, 4096)
        assert f"waiting for 127.0.0.1:{black_hole}".encode() in seen
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        try:
            while select.select([leader], [], [], 1)[0]:
                seen += os.read(leader, 4096)
        except OSError:
            pass
        assert b"Traceback" not in seen and b"interrupted" in seen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)


# --- 6. configure checks the keyring first --------------------------------------------------


def test_configure_without_a_keyring_asks_nothing() -> None:
    result = run("configure", "--profile", "k", input="id\nlocalhost:50051\n\n\nsecret\n",
                 env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 1
    assert "Client ID" not in result.stderr and "nothing was asked" in result.stderr


# --- 7. the quick start on any ports, twice -------------------------------------------------


@pytest.mark.real_keyring
def test_quick_start_order_works_on_any_ports_and_twice(
    real_keyring: str, start_server: Any
) -> None:
    server = start_server()  # port 0: not the default ports
    for _ in range(2):
        result = run("server", "add-client", "--account", "dev", "--db", str(server.db),
                     "--scrypt-n", "16", "--save-profile", "dev", "--default", "--force")
        assert result.returncode == 0, result.stderr
    assert config()["profiles"]["dev"]["endpoint"] == server.endpoint
    assert run("whoami").returncode == 0
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):]
    quick = quick[: quick.index("\n## ", 4)]
    assert quick.index("kaskada serve") < quick.index("add-client")
    assert "--force" in quick


# --- 8. messages in flags and commands; help -------------------------------------------------


def test_messages_speak_flags_and_suggest_profile_names(tmp_path: Path) -> None:
    assert run("profile", "add", "dev", "--client-id", "id").returncode == 0
    result = run("table", "list", "--profile", "dve")
    assert result.returncode == 1
    assert "did you mean 'dev'?" in result.stderr
    assert "argument profile=" not in result.stderr and "kda." not in result.stderr
    nothing = run("whoami", env={"KASKADA_CONFIG_DIR": str(tmp_path / "empty")})
    assert "kda.init" not in nothing.stderr and nothing.returncode == 4


def test_every_option_has_help_and_every_verb_an_example() -> None:
    import argparse

    from kaskada.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, Any]]:
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, f"{path} {name}")

    for path, parser in walk(build_parser(), "kaskada"):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue  # each verb has its own help
            assert action.help, f"{path}: {action.option_strings or action.dest} has no help"
        assert parser.epilog and "kaskada" in parser.epilog, f"{path} has no example"
    shown = run("table", "list", "--help")
    assert "example" in shown.stdout and "--timeout" in shown.stdout


# --- 9. global options, version, completion, check, output -----------------------------------


def test_version_and_global_options_before_or_after_the_verb(local_server: Any) -> None:
    version = run("--version")
    assert version.returncode == 0 and re.match(r"kaskada \d", version.stdout)
    # --version builds no verb's grammar; after --help, the help still lists every verb
    loaded = run_process([sys.executable, "-c", (
        "import contextlib, io, sys\n"
        "from kaskada.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--version'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('kaskada.cli.parsers.')))\n")])
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
    helped = run("--help", "--version")
    assert "table" in helped.stdout and "profile" in helped.stdout
    client_id, secret = local_server.add_client("g")
    cred = _env_for(local_server, (client_id, secret))
    before = run("--json", "--timeout", "5", "table", "list", env=cred)
    after = run("table", "list", "--json", "--timeout", "5", env=cred)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout) == []


def test_completion_offers_verbs_flags_and_profile_names(tmp_path: Path) -> None:
    assert run("profile", "add", "devbox", "--client-id", "id").returncode == 0
    script = run("completion", "bash")
    assert script.returncode == 0
    for shell in ("zsh", "fish"):
        assert "kaskada" in run("completion", shell).stdout
    (tmp_path / "complete.sh").write_text(script.stdout)
    probe = f"""
kaskada() {{ PYTHONPATH={ROOT} {sys.executable} -m kaskada "$@"; }}
source {tmp_path / "complete.sh"}
show() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _kaskada;
          echo "${{COMPREPLY[*]}}"; }}
show kaskada pro
show kaskada table list --ti
show kaskada --profile de
show kaskada profile show ""
"""
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                            env=dict(os.environ), timeout=60, check=False)
    lines = result.stdout.splitlines()
    assert lines == ["profile", "--timeout", "devbox", "devbox"], result


@pytest.mark.real_keyring
def test_profile_check_signs_in_with_each_profile(real_keyring: str, local_server: Any) -> None:
    add_profile("good", local_server, "--plaintext")
    client_id = add_profile("bad", local_server, "--plaintext")
    local_server.revoke_client(client_id)
    result = run("profile", "check", "--all")
    assert result.returncode == 4, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PROFILE", "STATUS", "DETAIL"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {"bad": "failed", "good": "ok"}
    only_good = json.loads(run("profile", "check", "good", "--json").stdout)
    assert only_good == [{"profile": "good", "ok": True, "secret_store": "keyring",
                          "detail": "signed in (secret: keyring)", "exit_code": 0}]  # fmt: skip


def test_output_has_headers_typed_json_and_json_on_changes(local_server: Any) -> None:
    cred = _env_for(local_server, local_server.add_client("out"))
    made = run("table", "create", "t1", "--time-column", "time", "--entity-key-column", "user",
               "--json", env=cred)
    assert made.returncode == 0, made.stderr
    assert isinstance(json.loads(made.stdout)["version"], int)
    listed = run("table", "list", env=cred)
    assert listed.stdout.splitlines()[0].split()[0] == "NAME"
    who = json.loads(run("whoami", "--json", env=cred).stdout)["settings"]
    assert who["is_secure"]["value"] is False and who["timeout"]["value"] == 30.0
    current = json.loads(run("profile", "current", "--json", env=cred).stdout)["settings"]
    assert current["allow_insecure"]["value"] is False
    deleted = run("table", "delete", "t1", "--json", env=cred)
    assert json.loads(deleted.stdout) == {"deleted": "t1"}
    refused = run("whoami", env={**cred, "KASKADA_CLIENT_SECRET": "wrong"})
    assert refused.returncode == 4
