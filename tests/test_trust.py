"""Issue 9: a secret goes only where its own account said.

Each test reproduces one hole found on 0.1 against the real Secret Service, the
real local server (``kaskada serve``) and capture servers on loopback that
record every request they receive, and asserts that the secret never arrives
there and never reaches what the user sees.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.capture import CaptureHTTP, EchoGrpc
from tests.helpers import run_cli as kaskada

ROOT = Path(__file__).resolve().parent.parent


def one_line_error(
    result: subprocess.CompletedProcess[str], *needles: str, code: int = 1
) -> str:
    """One line, no traceback; exit 4 for credentials missing or refused, else 1."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


def spellings(secret: str) -> list[str]:
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]


def assert_never_received(capture: CaptureHTTP, secret: str) -> None:
    received = capture.received()
    for form in spellings(secret):
        assert form.encode() not in received


@pytest.fixture
def echo_grpc() -> Iterator[EchoGrpc]:
    server = EchoGrpc(message_suffix="\x1b]0;pwned\x07\u202e")
    yield server
    server.close()


@pytest.fixture
def server_client(start_server: Any) -> tuple[Any, str, str]:
    """A fresh local server and one client of it: (server, client id, secret)."""
    server = start_server()
    client_id, secret = server.add_client(f"trust-{uuid.uuid4().hex[:6]}")
    return server, client_id, secret


def connection(server: Any) -> list[str]:
    return ["--endpoint", server.endpoint, "--plaintext", "--exchange-endpoint", server.token_url]


def add_prod(server: Any, client_id: str, secret: str, name: str = "prod") -> None:
    added = kaskada("profile", "add", name, "--client-id", client_id, *connection(server),
                    "--secret-stdin", input=secret)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert kaskada("whoami", "--profile", name).returncode == 0  # it works where it belongs


# --- hole 1: binding ---------------------------------------------------------------


@pytest.mark.real_keyring
def test_import_force_with_a_new_token_endpoint_sends_nothing(
    real_keyring: str, server_client: Any, capture: CaptureHTTP, tmp_path: Path
) -> None:
    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    evil = tmp_path / "evil.toml"
    evil.write_text(
        f'[profiles.prod]\nclient_id = "{client_id}"\nendpoint = "{server.endpoint}"\n'
        f'is_secure = false\nexchange_endpoint = "{capture.url}"\n'
    )
    imported = kaskada("profile", "import", str(evil), "--force")
    assert imported.returncode == 0, imported.stderr
    assert "deleted the stored secret of profile 'prod'" in imported.stderr
    assert "exchange_endpoint" in imported.stderr
    one_line_error(kaskada("whoami", "--profile", "prod"), "prod", code=4)
    assert capture.requests == []


@pytest.mark.real_keyring
def test_add_force_without_a_secret_drops_it_and_says_so(
    real_keyring: str, server_client: Any, capture: CaptureHTTP
) -> None:
    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    replaced = kaskada("profile", "add", "prod", "--client-id", client_id, "--endpoint",
                       server.endpoint, "--plaintext", "--exchange-endpoint", capture.url,
                       "--force")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert "deleted the stored secret of profile 'prod'" in replaced.stderr
    assert "exchange_endpoint changed" in replaced.stderr
    shown = kaskada("profile", "show", "prod")
    assert "secret: none stored" in shown.stdout
    one_line_error(kaskada("whoami", "--profile", "prod"), "no secret in the keyring", code=4)
    assert capture.requests == []


@pytest.mark.real_keyring
@pytest.mark.parametrize("field", ["exchange_endpoint", "audience", "client_id"])
def test_a_hand_edited_file_cannot_move_the_secret(
    field: str,
    real_keyring: str,
    server_client: Any,
    capture: CaptureHTTP,
    isolated_environment: Path,
) -> None:
    """Another hand (or a shared file) edits the profile: the keyring entry says no."""
    import tomllib

    import tomli_w

    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    path = isolated_environment / "config.toml"
    document = tomllib.loads(path.read_text())
    table = document["profiles"]["prod"]
    table["exchange_endpoint"] = capture.url  # every variant points the secret at the capture
    if field == "audience":
        table["exchange_endpoint"] = server.token_url
        table["audience"] = "https://elsewhere.example"
    if field == "client_id":
        table["client_id"] = "someone-else"
    path.write_text(tomli_w.dumps(document))
    result = kaskada("whoami", "--profile", "prod")
    one_line_error(result, field, "kaskada configure --profile prod", "not sent", code=4)
    assert_never_received(capture, secret)
    assert capture.requests == []
    shown = kaskada("profile", "show", "prod")
    assert "NOT usable" in shown.stdout and field in shown.stdout


@pytest.mark.real_keyring
def test_a_hand_edited_api_endpoint_gets_no_token(
    real_keyring: str, server_client: Any, echo_grpc: EchoGrpc, isolated_environment: Path
) -> None:
    """The token the secret buys is bound too: it never goes to another API endpoint."""
    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    path = isolated_environment / "config.toml"
    path.write_text(path.read_text().replace(server.endpoint, echo_grpc.endpoint))
    one_line_error(kaskada("whoami", "--profile", "prod"), "endpoint was", code=4)
    assert echo_grpc.metadata == []


@pytest.mark.real_keyring
def test_keyword_arguments_over_a_profile_are_the_programs_choice(
    real_keyring: str, server_client: Any
) -> None:
    import kaskada as kda
    from kaskada import table

    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    other_spelling = server.token_url.replace("127.0.0.1", "localhost")
    session = kda.session(profile="prod", exchange_endpoint=other_spelling, timeout=20)
    assert table.list_tables(session=session) == {}
    assert kda.explain(session).source("exchange_endpoint") == "argument"


@pytest.mark.real_keyring
def test_a_secret_stored_by_0_1_is_not_sent_until_configure_binds_it(
    real_keyring: str, server_client: Any, capture: CaptureHTTP
) -> None:
    import keyring

    server, client_id, secret = server_client
    added = kaskada("profile", "add", "old", "--client-id", client_id, "--endpoint",
                    server.endpoint, "--plaintext", "--exchange-endpoint", capture.url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    keyring.set_password(real_keyring, "old", secret)  # what 0.1 stored: a bare password
    one_line_error(
        kaskada("whoami", "--profile", "old"), "kaskada 0.1", "configure --profile old", code=4
    )
    assert capture.requests == []
    # configure shows each setting; Enter on every question keeps them and binds the secret.
    added = kaskada("profile", "add", "real", "--client-id", client_id, *connection(server))
    assert added.returncode == 0, added.stderr
    keyring.set_password(real_keyring, "real", secret)
    one_line_error(kaskada("whoami", "--profile", "real"), "kaskada 0.1", code=4)
    configured = kaskada("configure", "--profile", "real", input="\n" * 6)
    assert configured.returncode == 0, configured.stderr
    assert "stored by kaskada 0.1" in configured.stderr
    assert kaskada("whoami", "--profile", "real").returncode == 0


# --- hole 2: remove means gone --------------------------------------------------------

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.mark.real_keyring
def test_a_secret_never_survives_its_profile(
    real_keyring: str, server_client: Any, capture: CaptureHTTP
) -> None:
    import keyring

    server, client_id, secret = server_client
    add_prod(server, client_id, secret, name="staging")
    before = kaskada("profile", "list", "--json").stdout
    one_line_error(kaskada("profile", "remove", "staging", env=NO_KEYRING),
                   "was not removed", "--keep-orphan")  # fmt: skip
    one_line_error(kaskada("profile", "rename", "staging", "qa", env=NO_KEYRING),
                   "was not renamed", "--keep-orphan")  # fmt: skip
    assert kaskada("profile", "list", "--json").stdout == before  # nothing changed
    gone = kaskada("profile", "remove", "staging", "--keep-orphan", env=NO_KEYRING)
    assert gone.returncode == 0, gone.stderr
    assert keyring.get_password(real_keyring, "staging") is not None  # the orphan
    # Another account under the same name, added while the keyring is still away...
    other = kaskada("profile", "add", "staging", "--client-id", "OTHER", "--endpoint",
                    server.endpoint, "--plaintext", "--exchange-endpoint", capture.url,
                    env=NO_KEYRING)  # fmt: skip
    assert other.returncode == 0, other.stderr
    # ...and used once it is back: the orphan is not sent with the other client id.
    one_line_error(kaskada("whoami", "--profile", "staging"), "client_id", code=4)
    assert capture.requests == []
    assert "NOT usable" in kaskada("profile", "show", "staging").stdout


@pytest.mark.real_keyring
def test_an_orphan_is_deleted_when_its_name_is_used_again(
    real_keyring: str, server_client: Any, capture: CaptureHTTP
) -> None:
    import keyring

    server, client_id, secret = server_client
    add_prod(server, client_id, secret, name="staging")
    assert kaskada("profile", "remove", "staging", "--keep-orphan", env=NO_KEYRING).returncode == 0
    again = kaskada("profile", "add", "staging", "--client-id", client_id, *connection(server))
    assert again.returncode == 0, again.stderr
    assert "left by a removed profile" in again.stderr
    assert keyring.get_password(real_keyring, "staging") is None
    assert "secret: none stored" in kaskada("profile", "show", "staging").stdout
    one_line_error(kaskada("whoami", "--profile", "staging"), "no secret in the keyring", code=4)


# --- hole 5: scrub what servers echo ---------------------------------------------------


@pytest.mark.real_keyring
def test_an_echoing_token_endpoint_never_shows_the_secret(
    real_keyring: str, capture: CaptureHTTP
) -> None:
    import kaskada as kda
    from kaskada._errors import AuthenticationError

    secret = f"canary+/{uuid.uuid4().hex}=&x y"
    added = kaskada("profile", "add", "echo", "--client-id", "me", "--exchange-endpoint",
                    capture.url, "--secret-stdin", input=secret)  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = kaskada("whoami", "--profile", "echo")
    stderr = one_line_error(result, "you sent", code=4)
    assert capture.requests  # it did echo what it received
    assert urllib.parse.quote_plus(secret) in capture.requests[0]["body"].decode()
    for form in spellings(secret):
        assert form not in stderr
    with pytest.raises(AuthenticationError) as caught:
        kda.session(profile="echo").access_token()
    for form in spellings(secret):
        assert form not in str(caught.value) and form not in repr(caught.value)


@pytest.mark.real_keyring
def test_an_echoing_grpc_server_never_shows_the_token(
    real_keyring: str, server_client: Any, echo_grpc: EchoGrpc
) -> None:
    server, client_id, secret = server_client
    added = kaskada("profile", "add", "echo", "--client-id", client_id, "--endpoint",
                    echo_grpc.endpoint, "--plaintext", "--exchange-endpoint", server.token_url,
                    "--secret-stdin", input=secret)  # fmt: skip
    assert added.returncode == 0, added.stderr
    result = kaskada("table", "get", "anything", "--profile", "echo")
    stderr = one_line_error(result, "you sent authorization")
    token = echo_grpc.metadata[0]["authorization"].removeprefix("Bearer ")
    assert len(token) >= 16
    assert token not in stderr and secret not in stderr
    # hole 9: the status message's terminal escapes and bidi override are escaped
    assert "\x1b" not in stderr and "\u202e" not in stderr and "\\x1b" in stderr


# --- hole 6: no redirects ----------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307])
def test_the_token_exchange_never_follows_a_redirect(status: int) -> None:
    import kaskada as kda
    from kaskada._errors import AuthenticationError

    token = json.dumps({"access_token": "t" * 32, "token_type": "Bearer", "expires_in": 60})
    elsewhere = CaptureHTTP(lambda request: (200, {}, token.encode()))
    redirecting = CaptureHTTP(lambda request: (status, {"Location": elsewhere.url}, b""))
    try:
        session = kda.session(
            client_id="me", client_secret="canary-redirect", exchange_endpoint=redirecting.url
        )
        with pytest.raises(AuthenticationError, match="redirect") as caught:
            session.access_token()
        assert elsewhere.url in str(caught.value)
        assert len(redirecting.requests) == 1 and elsewhere.requests == []
    finally:
        elsewhere.close()
        redirecting.close()


# --- hole 7: one is_loopback ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost.", False),
        ("evil.localhost", False),
        ("a.localhost", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_client_and_server_share_one_loopback_rule(host: str, loopback: bool) -> None:
    from kaskada.server import options
    from kaskada.settings import defaults as _defaults
    from kaskada.settings.hostport import is_loopback

    assert _defaults.is_loopback is is_loopback and options.is_loopback is is_loopback
    assert is_loopback(host) is loopback


def test_plaintext_to_a_dot_localhost_name_is_refused() -> None:
    import kaskada as kda
    from kaskada._errors import InsecureConnectionError

    with pytest.raises(InsecureConnectionError, match=r"evil\.localhost"):
        kda.session(
            client_id="me",
            client_secret="s",
            endpoint="evil.localhost:50051",
            is_secure=False,
            exchange_endpoint="http://localhost:50052/oauth/token",
        )
    with pytest.raises(InsecureConnectionError, match=r"evil\.localhost"):
        kda.session(client_id="me", client_secret="s", endpoint="localhost:50051",
                    exchange_endpoint="http://evil.localhost:50052/oauth/token")  # fmt: skip


# --- hole 8: a bad CA bundle is one line ---------------------------------------------------


def test_a_bad_ca_bundle_is_one_line_for_the_token_exchange() -> None:
    env = {
        "KASKADA_CLIENT_ID": "me",
        "KASKADA_CLIENT_SECRET": "s",
        "KASKADA_API_ENDPOINT": "127.0.0.1:1",
        "KASKADA_AUTH_ENDPOINT": "https://127.0.0.1:1/oauth/token",
        "KASKADA_CA_BUNDLE": "/etc/passwd",
    }
    one_line_error(kaskada("table", "list", env=env), "/etc/passwd", "PEM")


def test_a_bad_ca_bundle_is_one_line_for_the_grpc_channel() -> None:
    env = {
        "KASKADA_TOKEN": "t" * 32,
        "KASKADA_API_ENDPOINT": "127.0.0.1:1",
        "KASKADA_IS_SECURE": "true",
        "KASKADA_CA_BUNDLE": "/etc/passwd",
    }
    one_line_error(kaskada("table", "list", env=env), "/etc/passwd", "PEM")


# --- hole 9: server text is escaped on the terminal ----------------------------------------


@pytest.mark.real_keyring
def test_server_text_is_escaped_in_text_output_and_exact_in_json(
    real_keyring: str, server_client: Any
) -> None:
    import kaskada as kda
    from kaskada import table

    server, client_id, secret = server_client
    add_prod(server, client_id, secret)
    hostile = "g\x1b]0;pwned\x07\u202etxt"
    with kda.session(profile="prod"):
        table.create_table("hostile", "t", "k", grouping_id="plain")
    # Today's server refuses such text; a hostile server (or a 0.1 database) sends it anyway.
    with contextlib.closing(sqlite3.connect(server.db)) as database, database:
        database.execute(
            "UPDATE tables SET grouping_id = ? WHERE table_name = 'hostile'", (hostile,)
        )
    shown = kaskada("table", "get", "hostile", "--profile", "prod")
    assert shown.returncode == 0, shown.stderr
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in shown.stdout
    assert "\\x1b]0;pwned\\x07\\u202etxt" in shown.stdout
    as_json = kaskada("table", "get", "hostile", "--profile", "prod", "--json")
    assert json.loads(as_json.stdout)["grouping_id"] == hostile


# --- hole 10: empty secrets and backends that raise anything -------------------------------


@pytest.mark.real_keyring
@pytest.mark.parametrize("raw", ["", '{"v":2,"secret":"","binding":{}}'])
def test_an_empty_stored_secret_is_never_sent(
    raw: str, real_keyring: str, capture: CaptureHTTP
) -> None:
    import keyring

    added = kaskada("profile", "add", "empty", "--client-id", "me", "--exchange-endpoint",
                    capture.url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    keyring.set_password(real_keyring, "empty", raw)
    one_line_error(kaskada("whoami", "--profile", "empty"), "empty secret", "configure", code=4)
    assert capture.requests == []


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt"])
def test_a_keyring_backend_that_raises_anything_is_one_line(kind: str) -> None:
    assert kaskada("profile", "add", "dev", "--client-id", "a").returncode == 0
    env = {"PYTHON_KEYRING_BACKEND": "tests.keyring_raising.Keyring", "KEYRING_RAISES": kind}
    one_line_error(kaskada("whoami", "--profile", "dev", env=env), kind, "keyring")
