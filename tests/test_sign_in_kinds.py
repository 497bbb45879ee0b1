"""Each way of signing in is one Credentials class made from plain settings: device and
federated profiles are set up with `kaskada profile add/set` (their keys are rows of the
one table of settings), the auth row of explain() says which kind signs in and where its
token comes from, a refresh token honours the profile's store, a secret_command runs when
a token is needed (not at resolution), and sessions with the same credentials share one
object owned by ``tokens.SHARED``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kaskada as kda
from kaskada import _reset
from kaskada._secret import Secret
from kaskada.config import lifecycle as _profiles
from kaskada.credentials import binding as _binding
from kaskada.credentials import tokens as _tokens
from kaskada.credentials.keyring import Entry
from kaskada.credentials.profile_stores import FileStore
from kaskada.server import start_server
from kaskada.server.oauth_store import OAuthStore
from kaskada.settings.values import Settings, SignIn, Sourced
from tests.helpers import assert_one_line_error
from tests.oauth_helpers import PASSWORD, approved_login, kaskada


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        OAuthStore(running.store).add_user("dev", "alice", PASSWORD)
        yield running


def _connection(server: Any) -> list[str]:
    return ["--endpoint", server.endpoint, "--exchange-endpoint", server.token_url]


@pytest.mark.real_keyring
def test_profile_set_auth_device_then_login_and_calls_work(
    server: Any, real_keyring: str
) -> None:
    """`auth` is a profile key: no hand-written TOML to sign a person in."""
    added = kaskada("profile", "add", "me", "--client-id", "kaskada-cli", *_connection(server))
    assert added.returncode == 0, added.stderr
    changed = kaskada("profile", "set", "me", "auth", "device")
    assert changed.returncode == 0, changed.stderr
    assert kaskada("profile", "get", "me", "auth").stdout == "device\n"
    approved_login()
    listed = kaskada("--profile", "me", "table", "list")
    assert listed.returncode == 0, listed.stderr
    who = kaskada("--profile", "me", "whoami")
    shown = [" ".join(line.split()) for line in who.stdout.splitlines()]
    assert "auth device [refresh token in the keyring (profile 'me')]" in shown, who.stdout


@pytest.mark.real_keyring
def test_a_signed_in_profile_is_not_changed_under_its_login(
    server: Any, real_keyring: str
) -> None:
    """Changing where a device login's refresh token goes (a bound key, its store),
    replacing the profile or removing it would delete the token unrevoked, valid at the
    server for 30 more days: each is refused, the file untouched, until `kaskada logout`
    revoked it; then the same command works."""
    added = kaskada("profile", "add", "me", "--auth", "device", "--client-id", "kaskada-cli",
                    *_connection(server))  # fmt: skip
    assert added.returncode == 0, added.stderr
    approved_login()
    config = Path(os.environ["KASKADA_CONFIG_DIR"]) / "config.toml"
    before = config.read_bytes()
    attempts = (
        ("profile", "set", "me", "endpoint", "localhost:1"),
        ("profile", "set", "me", "auth", "client_secret"),
        ("profile", "set", "me", "secret_store", "file", "--insecure-storage"),
        ("profile", "add", "me", "--force", "--auth", "device", "--client-id", "kaskada-cli",
         "--endpoint", "localhost:1", "--exchange-endpoint", server.token_url),
        ("profile", "remove", "me"),
    )  # fmt: skip
    for attempt in attempts:
        refused = kaskada(*attempt)
        assert refused.returncode == 1, (attempt, refused.stderr)
        assert "is signed in (a device login)" in refused.stderr, refused.stderr
        assert "`kaskada logout --profile me` first" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert config.read_bytes() == before, attempt
    assert kaskada("--profile", "me", "table", "list").returncode == 0  # still signed in
    assert kaskada("logout", "--profile", "me").returncode == 0
    changed = kaskada("profile", "set", "me", "endpoint", "localhost:1")
    assert changed.returncode == 0, changed.stderr
    assert kaskada("profile", "remove", "me").returncode == 0


def test_profile_add_takes_the_sign_in_flags_and_get_reads_them() -> None:
    added = kaskada("profile", "add", "ci", "--auth", "federated", "--client-id",
                    "kaskada-cli", "--issuer", "https://auth.example.com",
                    "--subject-token-env", "CI_JOB_JWT", "--subject-token-source", "env")
    assert added.returncode == 0, added.stderr
    assert "no secret" in added.stderr
    for key, value in (("auth", "federated"), ("issuer", "https://auth.example.com"),
                       ("subject_token_env", "CI_JOB_JWT"), ("subject_token_source", "env")):
        assert kaskada("profile", "get", "ci", key).stdout == f"{value}\n"
    wrong = kaskada("profile", "set", "ci", "auth", "password")
    assert wrong.returncode == 2
    assert "auth must be one of client_secret, device, federated, not 'password'" in wrong.stderr


def test_a_device_profile_with_an_env_or_command_store_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """A rotated refresh token could never be written back to a variable or a program."""
    refused = kaskada("profile", "add", "me", "--auth", "device", "--client-id", "kaskada-cli",
                      "--secret-env", "ME_TOKEN")
    assert_one_line_error(refused, "auth = 'device'", "secret_store 'env'", "keyring")
    assert kaskada("profile", "add", "me", "--auth", "device", "--client-id",
                   "kaskada-cli").returncode == 0
    again = kaskada("profile", "set", "me", "secret_command", "pass show kaskada")
    assert_one_line_error(again, "auth = 'device'", "secret_store 'command'")
    from tests.oauth_helpers import write_profile

    write_profile("hand", {"auth": "device", "client_id": "kaskada-cli",
                           "secret_env": "HAND_TOKEN"})
    login = kaskada("login", "--profile", "hand")
    assert_one_line_error(login, "auth = 'device'", "secret_store 'env'")


def _file_entry(name: str) -> Entry:
    entry = FileStore(name).read()
    assert entry is not None
    return entry


def test_a_device_login_in_the_file_store_keeps_and_rotates_its_refresh_token_there(
    server: Any, memory_keyring: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    added = kaskada("profile", "add", "me", "--auth", "device", "--client-id", "kaskada-cli",
                    "--insecure-storage", *_connection(server))
    assert added.returncode == 0, added.stderr
    assert "refresh token in the plain-text file" in approved_login()
    first = _file_entry("me")
    assert first.binding is not None and first.binding["auth"] == "device"
    assert memory_keyring == {}
    monkeypatch.setenv("KASKADA_TOKEN_CACHE", "0")  # every call refreshes with the file's token
    token = kda.session(profile="me").access_token()
    assert token.reveal() and first.secret.reveal() not in token.reveal()
    rotated = _file_entry("me")
    assert rotated.secret != first.secret  # the server rotated it; the file holds the new one
    assert kaskada("--profile", "me", "token", env=_no_cache()).returncode == 0
    assert _file_entry("me").secret != rotated.secret


def _no_cache() -> dict[str, str]:
    import os

    return {**os.environ, "KASKADA_TOKEN_CACHE": "0"}


def _plain(value: object) -> bool:
    """A value that does no I/O: text, numbers, None, a Secret holding a string, or a
    tuple (NamedTuple) of such values."""
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, Secret):
        return type(value) is Secret
    if isinstance(value, tuple):
        return all(_plain(part) for part in value)
    return False


def _profiles_of_every_kind(tmp_path: Path) -> dict[str, str]:
    """A device, a federated (file, env, GitHub Actions), a command and a keyring profile;
    the auth row each should show."""
    marker = tmp_path / "ran"
    code = (f"open({str(marker)!r}, 'w').write('ran'); import json; "
            "print(json.dumps({'AccessToken': 'from-command', 'expires_in': 600}))")
    command = [sys.executable, "-c", code]
    add = _profiles.add_profile
    add("me", {"client_id": "kaskada-cli", "auth": "device"}, None)
    add("plain", {"client_id": "kaskada-cli", "auth": "device", "secret_store": "file"}, None)
    add("ci", {"client_id": "kaskada-cli", "auth": "federated",
               "subject_token_file": "/var/run/token"}, None)
    add("ci-env", {"client_id": "kaskada-cli", "auth": "federated",
                   "subject_token_env": "CI_JOB_JWT"}, None)
    add("gha", {"client_id": "kaskada-cli", "auth": "federated",
                "issuer": "https://auth.example.com"}, None)
    add("cmd", {"client_id": "x", "secret_command": command}, None)
    add("dev", {"client_id": "x"}, Secret("s3cret"))
    return {
        "me": "device  [refresh token in the keyring (profile 'me')]",
        "plain": "device  [refresh token in a plain-text file (insecure storage) (profile "
                 "'plain')]",
        "ci": "federated  [subject token from file /var/run/token (profile 'ci')]",
        "ci-env": "federated  [subject token from variable CI_JOB_JWT (profile 'ci-env')]",
        "gha": "federated  [subject token from GitHub Actions' OIDC request (profile 'gha')]",
        "cmd": f"command  [command `{' '.join(command[:2])}",
        "dev": "client_secret  [keyring (profile 'dev')]",
    }


def test_explain_says_which_kind_signs_in_and_settings_hold_plain_values(
    tmp_path: Path, memory_keyring: dict[tuple[str, str], str]
) -> None:
    """Settings of every kind are plain values (no object whose methods read a keyring,
    a file or run a program); the auth row names the kind and where its token comes from."""
    expected = _profiles_of_every_kind(tmp_path)
    for name, row in expected.items():
        session = kda.session(profile=name)
        settings: Settings = session.settings
        for field, value in zip(Settings._fields[1:], settings[1:], strict=True):
            assert isinstance(value, Sourced) and _plain(value.value), (name, field, value)
        lines = [" ".join(line.split()) for line in str(session.explain()).splitlines()]
        auth = next(line for line in lines if line.startswith("auth "))
        assert auth.startswith("auth " + " ".join(row.split())), (name, auth)
        assert session.explain().to_json()["settings"]["auth"]["value"] == row.split()[0]
    assert kda.session(profile="gha").settings.exchange_endpoint.value == (
        "https://auth.example.com")  # the issuer names the endpoints, through its metadata
    assert not (tmp_path / "ran").exists()


def test_a_secret_command_runs_when_a_token_is_needed_not_at_resolution(
    tmp_path: Path,
) -> None:
    _profiles_of_every_kind(tmp_path)
    marker = tmp_path / "ran"
    session = kda.session(profile="cmd")
    kda.init(profile="cmd")
    assert "command" in str(kda.explain()) and session.explain().to_json()
    assert not marker.exists()  # resolving and explaining run nothing
    assert session.access_token().reveal() == "from-command"
    assert marker.read_text() == "ran"
    marker.unlink()
    assert session.access_token().reveal() == "from-command"  # valid: not run again
    assert not marker.exists()
    variables = kaskada("exec", "--profile", "cmd", "--", sys.executable, "-c",
                        "import os; print(os.environ['KASKADA_TOKEN_EXPIRES_AT'])")
    assert variables.returncode == 0, variables.stderr  # exec hands on its token and expiry


def test_sessions_with_the_same_credentials_share_one_object_until_reset() -> None:
    """``tokens.SHARED`` owns them: a new Session over the same settings (other channel
    options) gets the same credentials; another timeout, other credentials."""
    given = {"client_id": "a", "client_secret": "s3cret"}
    one = kda.session(**given, channel_options=[("grpc.max_receive_message_length", 1 << 20)])
    two = kda.session(**given, channel_options=[("grpc.max_send_message_length", 1 << 20)])
    assert one is not two and one.credentials is two.credentials
    assert kda.session(**given, timeout=5).credentials is not one.credentials
    _reset.reset_all()
    assert kda.session(**given).credentials is not one.credentials


def test_a_kind_is_one_class_found_from_the_settings(tmp_path: Path) -> None:
    from kaskada.credentials.command import CommandCredentials
    from kaskada.credentials.signin import DeviceCredentials, FederatedCredentials

    _profiles.add_profile("me", {"client_id": "kaskada-cli", "auth": "device"}, None)
    _profiles.add_profile("ci", {"client_id": "kaskada-cli", "auth": "federated"}, None)
    _profiles.add_profile("cmd", {"client_id": "x", "secret_command": ["true"]}, None)
    for name, kind in (("me", DeviceCredentials), ("ci", FederatedCredentials),
                       ("cmd", CommandCredentials)):
        assert type(kda.session(profile=name).credentials) is kind
    assert set(_tokens.KINDS) >= {"client_secret", "token", "device", "federated", "command"}


def test_stored_client_secrets_stay_usable_and_refresh_tokens_are_never_sent_as_one() -> None:
    """`auth` and `issuer` are bound now; an entry stored before they existed (no such key
    in its binding) is a client secret's, and still matches a client-secret profile."""
    fields = {"client_id": "x", "endpoint": "localhost:50051"}
    before = {key: value for key, value in _binding.binding_of(fields).items()}
    assert "auth" not in before  # a client secret's binding is what it always was
    _binding.check("dev", Entry(Secret("s"), before), fields)
    device = _binding.binding_of({**fields, "auth": "device"})
    assert device["auth"] == "device" and device["issuer"] is None
    from kaskada._errors import SecretBindingError

    with pytest.raises(SecretBindingError, match="auth was 'device', is 'client_secret'"):
        _binding.check("dev", Entry(Secret("refresh"), device), fields)
    assert _binding.changed_fields(before, device) == ["auth"]


def test_the_auth_row_of_a_pre_issued_token_and_of_explicit_credentials() -> None:
    token = kda.session(jwt="eyJh.eyJi.c2ln").settings.auth
    assert token == Sourced(SignIn("token"), "argument jwt")
    explicit = kda.session(client_id="a", client_secret="s").settings.auth
    assert explicit == Sourced(SignIn("client_secret"), "argument")
    assert json.loads(json.dumps(kda.session(jwt="eyJh.eyJi.c2ln").explain().to_json()))[
        "settings"]["auth"] == {"value": "token", "source": "argument jwt"}
