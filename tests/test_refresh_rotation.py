"""Refresh-token rotation under concurrency, a general OAuth client against the server,
its RFC 8414 metadata, and the canary rule for refresh and subject tokens.

Eight processes share one device-login profile whose access tokens live 3 seconds:
every call succeeds, every refresh token is used once (no reuse is ever detected), and
presenting an old refresh token afterwards revokes the family."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada.server import start_server
from kaskada.server.oauth_store import OAuthStore
from tests.oauth_helpers import (
    PASSWORD,
    approved_login,
    base_url,
    decide_over_http,
    device_profile,
    kaskada,
    post,
)

WORKERS = 8
SECONDS = float(os.environ.get("KASKADA_ROTATION_SECONDS", "60"))
WORKER = """
import sys, time
import kaskada as kda
from kaskada import table
kda.init(profile="me")
deadline = time.monotonic() + float(sys.argv[1])
calls = 0
while time.monotonic() < deadline:
    table.list_tables()
    calls += 1
    time.sleep(0.05)
print(calls)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3", token_ttl=3) as running:
        OAuthStore(running.store).add_user("dev", "alice", PASSWORD)
        yield running


def _login(real_keyring: str) -> str:
    """Sign profile 'me' in; the refresh token it stored."""
    approved_login()
    import keyring

    from kaskada.credentials import keyring as _keyring

    return _keyring.decode_entry(keyring.get_password(real_keyring, "me") or "").secret.reveal()


@pytest.mark.slow
def test_eight_processes_share_a_rotating_refresh_token(
    server: Any, real_keyring: str, tmp_path: Path
) -> None:
    device_profile(server)
    first_refresh = _login(real_keyring)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(SECONDS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(WORKERS)]
    results = [worker.communicate(timeout=SECONDS + 120) for worker in workers]
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
        assert int(out) > 0
        assert first_refresh not in out + err
    rows = server.store._connect().execute(
        "SELECT used IS NOT NULL, revoked IS NOT NULL, family FROM refresh_tokens").fetchall()
    assert len(rows) >= 1 + SECONDS // 3  # it rotated as the tokens expired
    assert not any(revoked for _, revoked, _ in rows)  # no reuse was ever detected
    assert sum(1 for used, _, _ in rows if not used) == 1  # all but the newest used once
    # Replaying the first (rotated) refresh token revokes the whole family.
    status, body = post(server.token_url, {"grant_type": "refresh_token",
                                           "client_id": "kaskada-cli",
                                           "refresh_token": first_refresh})
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    assert OAuthStore(server.store).family_revoked(rows[0][2])
    assert all(revoked for _, revoked, _ in server.store._connect().execute(
        "SELECT used, revoked IS NOT NULL, family FROM refresh_tokens").fetchall())


def test_metadata_has_rfc8414_required_fields(server: Any) -> None:
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    with urllib.request.urlopen(
            base_url(server) + "/.well-known/oauth-authorization-server", timeout=10) as answer:
        document = json.loads(answer.read())
    assert document["issuer"] == base_url(server)
    for field in ("issuer", "token_endpoint", "response_types_supported",
                  "grant_types_supported", "device_authorization_endpoint",
                  "revocation_endpoint"):
        assert field in document
    metadata = AuthorizationServerMetadata(document)
    metadata.validate_response_types_supported()
    metadata.validate_grant_types_supported()
    for validate in (metadata.validate_token_endpoint, metadata.validate_revocation_endpoint):
        try:
            validate()
        except ValueError as error:
            # authlib 1.3 (the floor) holds every endpoint to https, also a loopback test
            # server's (plain http on loopback is what kaskada serve runs here).
            assert "https" in str(error), error
    for field in ("token_endpoint", "revocation_endpoint", "device_authorization_endpoint"):
        assert document[field].startswith(base_url(server) + "/"), document[field]
    assert "urn:ietf:params:oauth:grant-type:device_code" in document["grant_types_supported"]


def test_a_general_oauth_library_completes_the_device_flow(server: Any) -> None:
    """authlib's OAuth2Session (on requests) speaks RFC 8628 to kaskada serve."""
    from authlib.integrations.requests_client import OAuth2Session

    client = OAuth2Session(client_id="kaskada-cli", token_endpoint_auth_method="none")
    answer = client.post(base_url(server) + "/oauth/device_authorization",
                         data={"client_id": "kaskada-cli"}, timeout=10,
                         withhold_token=True).json()
    assert decide_over_http(answer["verification_uri_complete"], approve=True)[0] == 200
    token = client.fetch_token(
        server.token_url, grant_type="urn:ietf:params:oauth:grant-type:device_code",
        device_code=answer["device_code"], timeout=10)
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    refreshed = client.refresh_token(server.token_url, refresh_token=token["refresh_token"],
                                     timeout=10)
    assert refreshed["refresh_token"] != token["refresh_token"]
    info = server.store.lookup_token(refreshed["access_token"])
    assert info is not None and info.account == "dev"


def test_canary_refresh_token_never_leaks(
    server: Any, real_keyring: str, tmp_path: Path
) -> None:
    """The refresh token is in the keyring only: not in the config file, the token cache,
    CLI output (but `kaskada token`, which prints the access token), a debug log, or a
    delegated pickle."""
    device_profile(server)
    refresh = _login(real_keyring)
    outputs = [kaskada("--debug", "table", "list"), kaskada("--debug", "whoami"),
               kaskada("env"), kaskada("profile", "show", "me")]
    for out in outputs:
        assert refresh not in out.stdout + out.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix not in (".sqlite3",):
            assert refresh.encode() not in path.read_bytes(), path
    import kaskada as kda

    session = kda.session(profile="me")
    delegated = pickle.dumps(session.delegate())
    assert refresh.encode() not in delegated
    # The settings are plain values: no refresh token, no object that reads one.
    assert session.settings.client_secret.value is None
    assert refresh.encode() not in pickle.dumps(session.settings)
    assert refresh not in repr(session) + str(kda.explain(session))
    # A server log holds no refresh token either.
    log_text = "".join(r for r in [kaskada("logout", "--profile", "me").stderr])
    assert refresh not in log_text
