"""The token endpoint against RFC 6749 (§2.3.1, §4.4, §5.1, §5.2) on a real server."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kaskada.server.token_http import MAX_BODY_BYTES
from tests.helpers import open_fds
from tests.server_fixtures import post_token

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client_credentials(local_server: Any) -> tuple[str, str]:
    return local_server.add_client(f"token-{time.monotonic_ns()}")  # type: ignore[no-any-return]


def form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def assert_token_answer(status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 43
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"


def assert_error(
    answer: tuple[int, dict[str, str], dict[str, Any]], status: int, error: str
) -> dict[str, str]:
    code, headers, body = answer
    assert (code, body.get("error")) == (status, error), body
    assert isinstance(body.get("error_description"), str) and body["error_description"]
    assert set(body) <= {"error", "error_description", "error_uri"}
    assert headers["Content-Type"].startswith("application/json")
    return headers


def test_form_encoded_body(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    body = form(grant_type="client_credentials", client_id=client_id, client_secret=secret)
    assert_token_answer(*post_token(local_server.token_url, body, headers=FORM))


def test_json_body_as_auth0_took_it(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    body = json.dumps({"client_id": client_id, "client_secret": secret,
                       "audience": "https://api.prod.kaskada.com",
                       "grant_type": "client_credentials"}).encode()
    assert_token_answer(*post_token(local_server.token_url, body, headers=JSON))


def test_http_basic_client_authentication(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    headers = {**FORM, **basic(client_id, secret)}
    answer = post_token(local_server.token_url, form(grant_type="client_credentials"),
                        headers=headers)
    assert_token_answer(*answer)


def test_each_grant_gives_a_new_token(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    body = form(grant_type="client_credentials", client_id=client_id, client_secret=secret)
    tokens = {post_token(local_server.token_url, body, headers=FORM)[2]["access_token"]
              for _ in range(3)}
    assert len(tokens) == 3


def test_wrong_secret_and_unknown_client_are_invalid_client(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    for cid, sec in ((client_id, secret + "x"), ("no-such-client", secret)):
        body = form(grant_type="client_credentials", client_id=cid, client_secret=sec)
        headers = assert_error(post_token(local_server.token_url, body, headers=FORM),
                               401, "invalid_client")
        assert "WWW-Authenticate" not in headers
    # With Basic, a 401 carries WWW-Authenticate (RFC 6749 §5.2).
    answer = post_token(local_server.token_url, form(grant_type="client_credentials"),
                        headers={**FORM, **basic(client_id, "wrong")})
    headers = assert_error(answer, 401, "invalid_client")
    assert headers["WWW-Authenticate"].startswith("Basic ")


def test_missing_client_authentication_is_invalid_client(local_server: Any) -> None:
    answer = post_token(local_server.token_url, form(grant_type="client_credentials"),
                        headers=FORM)
    assert_error(answer, 401, "invalid_client")


def test_revoked_client_gets_no_token(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    local_server.revoke_client(client_id)
    body = form(grant_type="client_credentials", client_id=client_id, client_secret=secret)
    headers = assert_error(post_token(local_server.token_url, body, headers=FORM),
                           401, "invalid_client")
    assert "WWW-Authenticate" not in headers


def test_grant_type_rules(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    url = local_server.token_url
    missing = form(client_id=client_id, client_secret=secret)
    assert_error(post_token(url, missing, headers=FORM), 400, "invalid_request")
    password = form(grant_type="password", client_id=client_id, client_secret=secret)
    assert_error(post_token(url, password, headers=FORM), 400, "unsupported_grant_type")


def test_malformed_requests_are_invalid_request(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    client_id, secret = client_credentials
    url = local_server.token_url
    cases = [
        (b"{not json", JSON),
        (b'["a list"]', JSON),
        (json.dumps({"grant_type": "client_credentials", "client_id": 5}).encode(), JSON),
        # §3.2: parameters must not be repeated
        (form(grant_type="client_credentials", client_id=client_id, client_secret=secret)
         + b"&grant_type=client_credentials", FORM),
        (b"grant_type=client_credentials", {"Content-Type": "text/plain"}),
    ]
    for body, headers in cases:
        assert_error(post_token(url, body, headers=headers), 400, "invalid_request")
    # §2.3: one authentication method per request
    both = form(grant_type="client_credentials", client_id=client_id, client_secret=secret)
    answer = post_token(url, both, headers={**FORM, **basic(client_id, secret)})
    assert_error(answer, 400, "invalid_request")


def test_oversized_body_is_refused(local_server: Any) -> None:
    body = form(grant_type="client_credentials", padding="x" * (MAX_BODY_BYTES + 1))
    assert_error(post_token(local_server.token_url, body, headers=FORM), 413, "invalid_request")


def test_only_post_on_the_token_path(local_server: Any) -> None:
    parts = urlsplit(local_server.token_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path + "?client_secret=should-not-be-logged")
        response = connection.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "POST"
        response.read()
        connection.request("POST", "/elsewhere", body=b"", headers=FORM)
        response = connection.getresponse()
        assert response.status == 404
        response.read()
    finally:
        connection.close()


def test_a_401_to_any_authorization_header_names_basic(
    local_server: Any, client_credentials: tuple[str, str]
) -> None:
    """RFC 6749 §5.2: a client that tried the Authorization header gets WWW-Authenticate."""
    for value in ("Bearer some-token", "Digest x", "Basic !!!"):
        answer = post_token(local_server.token_url, form(grant_type="client_credentials"),
                            headers={**FORM, "Authorization": value})
        headers = assert_error(answer, 401, "invalid_client")
        assert headers["WWW-Authenticate"].startswith("Basic ")


def _database_descriptors(pid: int, db: Path) -> int:
    return len(open_fds(pid, under=db))


def test_token_requests_do_not_leak_database_connections(start_server: Any) -> None:
    """Each request runs on its own thread; its SQLite connection must close with it."""
    server = start_server()
    client_id, secret = server.add_client("leak")
    body = form(grant_type="client_credentials", client_id=client_id, client_secret=secret)

    def grants(count: int) -> int:
        for _ in range(count):
            assert post_token(server.token_url, body, headers=FORM)[0] == 200
        return _database_descriptors(server.process.pid, server.db)

    # A few descriptors may belong to request threads still finishing, or be kept by
    # SQLite for reuse; a leak would add two per request, 80 here.
    after_few = grants(5)
    assert grants(40) < after_few + 10
