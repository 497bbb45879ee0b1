"""The server's people-and-CI commands and grants at the HTTP level, and the device-login
poller's lines (with a scripted token endpoint: no clock, no network)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada._secret import Secret
from kaskada.credentials import login as _login
from kaskada.server import start_server
from kaskada.server.oauth_store import USER_CODE_ALPHABET, OAuthStore
from tests.oauth_helpers import (
    PASSWORD,
    base_url,
    decide_over_http,
    device_tokens,
    kaskada,
    post,
    refresh,
)

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        yield running


def test_add_user_from_stdin_then_sign_in_at_the_page(server: Any) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "kaskada", "server", "add-user", "--account", "dev", "bob",
         "--password-stdin", "--db", str(server.db)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    again = subprocess.run(
        [sys.executable, "-m", "kaskada", "server", "add-user", "--account", "dev", "bob",
         "--password-stdin", "--db", str(server.db)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "--force" in again.stderr
    row = server.store._connect().execute("SELECT pw_hash FROM users").fetchone()
    assert PASSWORD.encode() not in row[0]
    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    assert decide_over_http(answer["verification_uri_complete"], approve=True,
                            user="bob")[0] == 200


def test_user_codes_are_short_and_unambiguous(server: Any) -> None:
    for _ in range(20):
        answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                                 {"client_id": "kaskada-cli"})[1])
        code = answer["user_code"].replace("-", "")
        assert len(code) == 8 and set(code) <= set(USER_CODE_ALPHABET)
        assert not set(code) & set("0O1I")


def test_a_public_client_cannot_use_client_credentials(server: Any) -> None:
    status, body = post(server.token_url, {"grant_type": "client_credentials",
                                           "client_id": "kaskada-cli", "client_secret": "x"})
    assert status == 401 and json.loads(body)["error"] == "invalid_client"


def test_add_public_client_and_device_authorization(server: Any) -> None:
    out = kaskada("server", "add-client", "--public", "--json", "--db", str(server.db))
    assert out.returncode == 0, out.stderr
    client_id = json.loads(out.stdout)["client_id"]
    status, _ = post(base_url(server) + "/oauth/device_authorization", {"client_id": client_id})
    assert status == 200
    # A confidential client (with a secret) cannot start a device login.
    confidential, _ = server.add_client("dev")
    status, body = post(base_url(server) + "/oauth/device_authorization",
                        {"client_id": confidential})
    assert status == 401 and json.loads(body)["error"] == "invalid_client"


def test_device_code_is_single_use_and_denial_is_reported(server: Any) -> None:
    OAuthStore(server.store).add_user("dev", "alice", PASSWORD)
    url = base_url(server) + "/oauth/device_authorization"
    approved = json.loads(post(url, {"client_id": "kaskada-cli"})[1])
    decide_over_http(approved["verification_uri_complete"], approve=True)
    form = {"grant_type": DEVICE, "client_id": "kaskada-cli",
            "device_code": approved["device_code"]}
    assert post(server.token_url, form)[0] == 200
    status, body = post(server.token_url, form)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    # An approved code cannot be decided again at the page.
    status, page = decide_over_http(approved["verification_uri_complete"], approve=False)
    assert status == 400 and "unknown, already used or expired" in page
    denied = json.loads(post(url, {"client_id": "kaskada-cli"})[1])
    decide_over_http(denied["verification_uri_complete"], approve=False)
    status, body = post(server.token_url, {**form, "device_code": denied["device_code"]})
    assert json.loads(body)["error"] == "access_denied"


def test_polling_too_fast_is_slow_down(server: Any) -> None:
    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    form = {"grant_type": DEVICE, "client_id": "kaskada-cli",
            "device_code": answer["device_code"]}
    assert json.loads(post(server.token_url, form)[1])["error"] == "authorization_pending"
    assert json.loads(post(server.token_url, form)[1])["error"] == "slow_down"


def test_page_failures_are_limited_but_a_correct_password_always_gets_through(
        server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """F14: page failures take from the per-peer and the global budgets and are summarised
    beyond them; a person with the right password is never refused for others' failures."""
    OAuthStore(server.store).add_user("dev", "alice", PASSWORD)
    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    complete = answer["verification_uri_complete"]
    statuses = [decide_over_http(complete, approve=True, password="wrong password")[0]
                for _ in range(3)]
    assert statuses == [401, 401, 401]
    limits = server._http
    assert limits.failures._level("*", time.monotonic()) < limits.failures.burst - 2
    limits.by_peer._buckets["127.0.0.1"] = (0.0, 1e18)  # this address's budget is spent
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kaskada.server"):
        for _ in range(5):
            status, page = decide_over_http(complete, approve=True, password="wrong password")
            assert status == 429 and "Too many failed attempts" in page
    assert "failed sign-in of user" not in caplog.text  # summarised, no line per failure
    unknown = dict(answer, verification_uri_complete=complete.split("=")[0] + "=ZZZZ-ZZZZ")
    status, page = decide_over_http(unknown["verification_uri_complete"], approve=True,
                                    password="wrong password")
    assert status == 429 and "unknown" not in page  # beyond the budget codes are not probed
    status, page = decide_over_http(complete, approve=True)  # the right password
    assert status == 200, page
    assert OAuthStore(server.store).pending_device(answer["user_code"]) is None


def test_page_and_device_failures_take_from_the_global_budget(server: Any) -> None:
    OAuthStore(server.store).add_user("dev", "alice", PASSWORD)
    url = base_url(server) + "/oauth/device_authorization"
    answer = json.loads(post(url, {"client_id": "kaskada-cli"})[1])
    server._http.failures._buckets["*"] = (0.0, 1e18)  # many addresses spent the budget
    status, page = decide_over_http(answer["verification_uri_complete"], approve=True,
                                    password="wrong password")
    assert status == 429 and "Too many failed attempts" in page
    status, body = post(url, {"client_id": "no-such-client"})
    assert status == 429 and json.loads(body)["error"] == "temporarily_unavailable"
    assert decide_over_http(answer["verification_uri_complete"], approve=True)[0] == 200


def _pending(settings: Any = None) -> _login.Pending:
    return _login.Pending(
        profile="me", verification_uri="http://h/device", user_code="ABCD-EFGH",
        verification_uri_complete=None, interval=0.0, expires_in=600.0,
        device_code=Secret("device-code-canary"), token_url="http://h/oauth/token",
        client_id="kaskada-cli", settings=settings, login=None)  # type: ignore[arg-type]


def _scripted(*answers: tuple[int, dict[str, Any]]) -> Any:
    queue = list(answers)

    def request(url: str, form: dict[str, str], *, timeout: float,
                ca_bundle: str | None) -> tuple[int, bytes]:
        status, body = queue.pop(0)
        return status, json.dumps(body).encode()

    return request


class _Settings:
    class _V:
        def __init__(self, value: Any) -> None:
            self.value = value

    timeout = _V(5.0)
    ca_bundle = _V(None)


def test_poller_says_each_state_once_in_one_line() -> None:
    said: list[str] = []
    request = _scripted(
        (400, {"error": "authorization_pending"}), (400, {"error": "authorization_pending"}),
        (400, {"error": "slow_down"}), (400, {"error": "access_denied"}))
    with pytest.raises(_login.LoginDenied) as denied:
        _login.wait(_pending(_Settings()), say=said.append, request=request)
    assert said == ["waiting for approval in the browser… (Ctrl-C stops)",
                    "the server asked to poll more slowly: every 5 s"]
    assert "device-code-canary" not in str(denied.value)
    with pytest.raises(_login.LoginExpired):
        _login.wait(_pending(_Settings()), say=said.append,
                    request=_scripted((400, {"error": "expired_token"})))


def test_waiting_device_codes_are_bounded(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kaskada.server import oauth_store

    monkeypatch.setattr(oauth_store, "MAX_PENDING_DEVICE_CODES", 2)
    url = base_url(server) + "/oauth/device_authorization"
    statuses = [post(url, {"client_id": "kaskada-cli"})[0] for _ in range(3)]
    assert statuses == [200, 200, 503]


def test_a_new_password_or_removing_the_user_ends_their_device_logins(server: Any) -> None:
    """F18: add-user --force and remove-user revoke the user's refresh tokens and access
    tokens; other users' logins go on."""
    oauth = OAuthStore(server.store)
    oauth.add_user("dev", "carl", PASSWORD)
    oauth.add_user("dev", "dana", PASSWORD)
    carl, dana = device_tokens(server, "carl"), device_tokens(server, "dana")
    replaced = subprocess.run(
        [sys.executable, "-m", "kaskada", "server", "add-user", "--account", "dev", "carl",
         "--password-stdin", "--force", "--db", str(server.db)],
        input="newpassword9\n", capture_output=True, text=True, timeout=60)
    assert replaced.returncode == 0, replaced.stderr
    assert "ended 1 device login" in replaced.stderr
    assert refresh(server, carl["refresh_token"]) == (400, {
        "error": "invalid_grant",
        "error_description": "the refresh token is no longer valid: sign in again"})
    assert server.store.lookup_token(carl["access_token"]) is None
    assert server.store.lookup_token(dana["access_token"]) is not None

    listed = kaskada("server", "list-users", "--json", "--db", str(server.db))
    assert json.loads(listed.stdout) == [{"account": "dev", "user": "carl"},
                                         {"account": "dev", "user": "dana"}]
    status, rotated = refresh(server, dana["refresh_token"])
    assert status == 200
    removed = kaskada("server", "remove-user", "--account", "dev", "dana", "--db",
                      str(server.db))
    assert removed.returncode == 0, removed.stderr
    assert "removed user 'dana'" in removed.stderr and "ended 1 device login" in removed.stderr
    assert refresh(server, rotated["refresh_token"])[0] == 400
    assert server.store.lookup_token(rotated["access_token"]) is None
    again = kaskada("server", "remove-user", "--account", "dev", "dana", "--db",
                    str(server.db))
    assert again.returncode == 1 and "has no user 'dana'" in again.stderr
    assert "Traceback" not in again.stderr
    assert kaskada("server", "list-users", "--db", str(server.db)).stdout == "dev\tcarl\n"


def test_an_approved_code_not_yet_collected_dies_with_its_user(server: Any) -> None:
    oauth = OAuthStore(server.store)
    oauth.add_user("dev", "erin", PASSWORD)
    answer = json.loads(post(base_url(server) + "/oauth/device_authorization",
                             {"client_id": "kaskada-cli"})[1])
    assert decide_over_http(answer["verification_uri_complete"], approve=True,
                            user="erin")[0] == 200
    oauth.remove_user("dev", "erin")
    status, body = post(server.token_url, {"grant_type": DEVICE, "client_id": "kaskada-cli",
                                           "device_code": answer["device_code"]})
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"


def test_rotation_keeps_the_family_s_absolute_expiry(server: Any) -> None:
    """F18: a refresh family ends REFRESH_TTL after its sign-in, however often it rotates."""
    OAuthStore(server.store).add_user("dev", "finn", PASSWORD)
    token = device_tokens(server, "finn")["refresh_token"]
    for _ in range(3):
        status, answer = refresh(server, token)
        assert status == 200
        token = answer["refresh_token"]
    expiries = {row[0] for row in server.store._connect().execute(
        "SELECT expires FROM refresh_tokens WHERE subject = 'user:finn'")}
    assert len(expiries) == 1
    with server.store._write() as connection:  # the family's 30 days are nearly over
        connection.execute("UPDATE refresh_tokens SET expires = ? WHERE subject = 'user:finn'",
                           (time.time() + 120,))
    status, answer = refresh(server, token)
    assert status == 200 and answer["expires_in"] <= 120  # no access token outlives it


def _metadata_and_page(token_url: str) -> tuple[dict[str, Any], str]:
    base = token_url.rsplit("/oauth/", 1)[0]
    with urllib.request.urlopen(base + "/.well-known/oauth-authorization-server",
                                timeout=10) as answer:
        metadata: dict[str, Any] = json.loads(answer.read())
    started = json.loads(post(base + "/oauth/device_authorization",
                              {"client_id": "kaskada-cli"})[1])
    return metadata, started["verification_uri"]


def test_public_url_is_the_issuer_and_the_device_page(tmp_path: Path) -> None:
    """F17: behind a name (or a proxy) the metadata and the page say --public-url."""
    with start_server(db=tmp_path / "p.sqlite3",
                      public_url="https://kaskada.example.test:8443/") as running:
        metadata, page = _metadata_and_page(running.token_url)
    assert metadata["issuer"] == "https://kaskada.example.test:8443"
    assert metadata["token_endpoint"] == "https://kaskada.example.test:8443/oauth/token"
    assert page == "https://kaskada.example.test:8443/device"


def test_a_wildcard_bind_is_named_localhost_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """F17: bound to every interface without --public-url, clients are never told 0.0.0.0."""
    with caplog.at_level(logging.WARNING, logger="kaskada.server"), start_server(
            db=tmp_path / "w.sqlite3", host="0.0.0.0", allow_insecure=True) as running:
        port = running.token_url.rsplit(":", 1)[1].split("/")[0]
        metadata, page = _metadata_and_page(f"http://127.0.0.1:{port}/oauth/token")
    assert metadata["issuer"] == f"http://localhost:{port}"
    assert page == f"http://localhost:{port}/device"
    assert "without --public-url" in caplog.text


def test_a_bad_public_url_is_a_usage_error(tmp_path: Path) -> None:
    for url, words in (("kaskada.example.test", "is not an http(s) URL"),
                       ("https://h.test/sub/path", "has a path"),
                       ("http://0.0.0.0:1", "names every interface")):
        out = kaskada("serve", "--public-url", url, "--port", "0", "--token-port", "0",
                      "--db", str(tmp_path / "u.sqlite3"))
        assert out.returncode == 2 and words in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
