"""Token exchange offline: the test is its own OIDC issuer (an RSA and an EC key pair, a
JWKS file and a loopback JWKS URL), trusted with `kaskada server trust-issuer`. A valid
subject token buys an access token; each forged or mismatched one is refused with
invalid_grant (the reason only in the server log); a federated profile re-reads a rotated
subject-token file, and takes its token from a loopback stand-in for GitHub Actions."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kaskada.server import start_server
from tests.oauth_helpers import kaskada, post, write_profile

ISSUER = "https://issuer.test"
AUDIENCE = "kaskada-test"
SUBJECT = "repo:org/app:ref:refs/heads/main"
TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


class Issuer:
    """Key pairs and their JWKS; ``sign`` makes subject tokens."""

    def __init__(self, folder: Path) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa, "RS256"), ("ec-1", self.ec, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(
                key.public_key()))
            jwk.update(kid=kid, alg=alg, use="sig")
            keys.append(jwk)
        self.jwks = {"keys": keys}
        self.path = folder / "jwks.json"
        self.path.write_text(json.dumps(self.jwks))

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "nbf": now,
                  "exp": now + 300}
        claims.update(changes)
        return claims

    def sign(self, kid: str = "rsa-1", key: Any = None, alg: str = "RS256",
             **changes: Any) -> str:
        signer = key if key is not None else (self.rsa if alg == "RS256" else self.ec)
        return jwt.encode(self.claims(**changes), signer, algorithm=alg, headers={"kid": kid})


@contextlib.contextmanager
def loopback_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stand-in HTTP server on a free loopback port; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return Issuer(tmp_path)


@pytest.fixture
def server(tmp_path: Path, issuer: Issuer) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        out = kaskada("server", "trust-issuer", "--db", str(running.db), "--issuer", ISSUER,
                      "--jwks", str(issuer.path), "--audience", AUDIENCE, "--subject",
                      "repo:org/app:*", "--account", "ci", "--new-account")
        assert out.returncode == 0, out.stderr
        yield running


def exchange(server: Any, token: str) -> tuple[int, dict[str, Any]]:
    status, body = post(server.token_url, {
        "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": TOKEN_TYPE})
    return status, json.loads(body)


def test_valid_rs256_and_es256_tokens_are_exchanged(server: Any, issuer: Issuer) -> None:
    for token in (issuer.sign(), issuer.sign(kid="ec-1", alg="ES256")):
        status, answer = exchange(server, token)
        assert status == 200, answer
        assert answer["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
        assert "refresh_token" not in answer
        info = server.store.lookup_token(answer["access_token"])
        assert info is not None and info.account == "ci"


def _none_token(issuer: Issuer) -> str:
    return jwt.encode(issuer.claims(), None, algorithm="none", headers={"kid": "rsa-1"})


def _hs256_with_public_key(issuer: Issuer) -> str:
    import base64
    import hashlib
    import hmac

    pem = issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # PyJWT refuses to HMAC with a PEM key, so the forgery is made by hand.
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(issuer.claims()).encode())
    signature = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@pytest.mark.parametrize("forge", [
    "wrong signature", "wrong audience", "expired", "wrong subject", "unknown kid",
    "alg none", "hs256 with the public key", "untrusted issuer", "not yet valid",
])
def test_forged_or_mismatched_tokens_are_refused(
    server: Any, issuer: Issuer, forge: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    token = {
        "wrong signature": lambda: issuer.sign(key=issuer.other),
        "wrong audience": lambda: issuer.sign(aud="someone-else"),
        "expired": lambda: issuer.sign(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "wrong subject": lambda: issuer.sign(sub="repo:evil/app:ref:refs/heads/main"),
        "unknown kid": lambda: issuer.sign(kid="rsa-9", key=issuer.other),
        "alg none": lambda: _none_token(issuer),
        "hs256 with the public key": lambda: _hs256_with_public_key(issuer),
        "untrusted issuer": lambda: issuer.sign(iss="https://elsewhere.test"),
        "not yet valid": lambda: issuer.sign(nbf=now + 3600),
    }[forge]()
    with caplog.at_level("INFO", logger="kaskada.server"):
        status, answer = exchange(server, token)
    assert status == 400
    assert answer["error"] == "invalid_grant"
    assert "log" in answer["error_description"]  # which check failed is not told
    assert any("token exchange refused" in r.getMessage() for r in caplog.records)
    assert all(token not in r.getMessage() for r in caplog.records)


def test_jwks_is_fetched_again_for_an_unknown_kid(
    tmp_path: Path, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback JWKS URL; a key added later (rotation) is found by re-fetching."""
    served = {"body": json.dumps(issuer.jwks).encode(), "hits": 0}

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served["hits"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_http(Jwks) as base, start_server(db=tmp_path / "s.sqlite3") as running:
        url = f"{base}/jwks"
        out = kaskada("server", "trust-issuer", "--db", str(running.db), "--issuer",
                      ISSUER, "--jwks", url, "--audience", AUDIENCE, "--subject", SUBJECT,
                      "--account", "ci", "--new-account")
        assert out.returncode == 0, out.stderr
        assert served["hits"] == 1  # trust-issuer read it once, to check it
        assert exchange(running, issuer.sign())[0] == 200
        assert exchange(running, issuer.sign())[0] == 200
        assert served["hits"] == 2  # the server read it once: cached
        rotated = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.other.public_key()))
        rotated.update(kid="rsa-2", alg="RS256")
        served["body"] = json.dumps({"keys": [*issuer.jwks["keys"], rotated]}).encode()
        from kaskada.server import exchange as server_exchange

        monkeypatch.setattr(server_exchange, "REFETCH_SECONDS", 0.0)
        assert exchange(running, issuer.sign(kid="rsa-2", key=issuer.other))[0] == 200
        assert served["hits"] == 3


def test_federated_profile_rereads_a_rotated_subject_token_file(
    server: Any, issuer: Issuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text(issuer.sign())
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": server.endpoint, "exchange_endpoint": server.token_url,
                         "subject_token_file": str(token_file), "token_cache": False})
    first = kaskada("table", "list")
    assert first.returncode == 0, first.stderr
    token_file.write_text(issuer.sign(sub="repo:org/other:ref:x"))  # rotated, not trusted
    refused = kaskada("table", "list")
    assert refused.returncode == 4
    assert f"read from file {token_file}" in refused.stderr
    token_file.write_text(issuer.sign(jti="new"))
    assert kaskada("table", "list").returncode == 0
    who = kaskada("whoami")
    assert re.search(r"\n  auth +federated  \[subject token from file "
                     + re.escape(f"{token_file} (profile 'ci')]"), who.stdout), who.stdout


def test_federated_profile_with_github_actions_request(
    server: Any, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback stand-in for ACTIONS_ID_TOKEN_REQUEST_URL checks the bearer and the
    audience the profile asks for, as GitHub's does."""
    seen: list[tuple[str, str]] = []

    class Actions(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlsplit

            audience = parse_qs(urlsplit(self.path).query).get("audience", [""])[0]
            seen.append((self.headers.get("Authorization", ""), audience))
            ok = self.headers.get("Authorization") == "Bearer request-token"
            self.send_response(200 if ok else 401)
            self.end_headers()
            if ok:
                self.wfile.write(json.dumps({"value": issuer.sign(aud=audience)}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_http(Actions) as base:
        write_profile("gha", {"auth": "federated", "client_id": "kaskada-cli",
                              "endpoint": server.endpoint, "audience": AUDIENCE,
                              "exchange_endpoint": server.token_url})
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL",
                           f"{base}/token?api-version=2.0")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        out = kaskada("table", "list")
        assert out.returncode == 0, out.stderr
        assert seen == [("Bearer request-token", AUDIENCE)]


def test_missing_subject_token_is_one_line(server: Any, tmp_path: Path) -> None:
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": server.endpoint, "exchange_endpoint": server.token_url,
                         "subject_token_env": "CI_OIDC_TOKEN"})
    out = kaskada("table", "list")
    assert out.returncode == 4
    assert out.stderr.strip() == ("kaskada: error: the variable CI_OIDC_TOKEN (the subject "
                                  "token of profile 'ci') is unset or empty")


def test_issuer_list_and_remove(server: Any) -> None:
    listed = kaskada("server", "list-issuers", "--db", str(server.db), "--json")
    rows = json.loads(listed.stdout)
    assert [(r["issuer"], r["account"]) for r in rows] == [(ISSUER, "ci")]
    assert kaskada("server", "remove-issuer", str(rows[0]["id"]), "--db",
                   str(server.db)).returncode == 0
    assert json.loads(kaskada("server", "list-issuers", "--db", str(server.db),
                              "--json").stdout) == []


def test_issuer_discovery_reads_the_metadata_and_checks_its_issuer(
    server: Any, issuer: Issuer, tmp_path: Path
) -> None:
    from tests.oauth_helpers import base_url

    token_file = tmp_path / "oidc-token"
    token_file.write_text(issuer.sign())
    base = base_url(server)
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": server.endpoint, "issuer": base,
                         "subject_token_file": str(token_file)})
    out = kaskada("table", "list")
    assert out.returncode == 0, out.stderr
    # The same server under another name: its metadata names another issuer.
    other = base.replace("127.0.0.1", "localhost")
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": server.endpoint, "issuer": other,
                         "subject_token_file": str(token_file), "token_cache": False})
    refused = kaskada("table", "list")
    assert refused.returncode == 4, refused.stderr
    assert "names another issuer" in refused.stderr


def test_canary_subject_token_never_leaks(
    server: Any, issuer: Issuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subject token (good or refused) is in no CLI output, debug log, exception,
    cache file or delegated pickle."""
    import pickle

    good = issuer.sign()
    bad = issuer.sign(aud="someone-else")
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": server.endpoint, "exchange_endpoint": server.token_url,
                         "subject_token_env": "CI_OIDC_TOKEN"})
    env = dict(os.environ, CI_OIDC_TOKEN=bad)
    refused = kaskada("--debug", "table", "list", env=env)
    assert refused.returncode == 4
    assert bad not in refused.stdout + refused.stderr
    env["CI_OIDC_TOKEN"] = good
    for args in (("--debug", "table", "list"), ("--debug", "whoami"), ("env",)):
        out = kaskada(*args, env=env)
        assert out.returncode == 0, out.stderr
        assert good not in out.stdout + out.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert good.encode() not in path.read_bytes(), path
    monkeypatch.setenv("CI_OIDC_TOKEN", good)
    import kaskada as kda

    session = kda.session(profile="ci")
    assert good.encode() not in pickle.dumps(session.delegate())
    assert good not in str(kda.explain(session))


def test_trust_issuer_refuses_what_could_never_be_trusted(
        tmp_path: Path, issuer: Issuer) -> None:
    """F8: each wrong input is one line at once (usage: exit 2; unreadable: exit 1), and
    nothing is stored."""
    db = tmp_path / "trust.sqlite3"
    good = {"--issuer": ISSUER, "--jwks": str(issuer.path), "--audience": AUDIENCE,
            "--subject": SUBJECT, "--account": "ci"}
    not_json = tmp_path / "not-jwks.json"
    not_json.write_text('{"no": "keys"}')

    def trust(*extra: str, **changes: str) -> Any:
        options = {**good, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
        flat = [item for pair in options.items() for item in pair]
        return kaskada("server", "trust-issuer", "--db", str(db), *flat, *extra)

    cases = [
        (trust(jwks="http://evil.example.com/jwks"), 2, "plain http off loopback"),
        (trust(jwks="file:///etc/passwd"), 2, "neither a file path nor an https URL"),
        (trust(subject="*"), 2, "--any-subject"),
        (trust(subject="**?"), 2, "matches every subject"),
        (trust(subject="repo:["), 2, "'[' without its ']'"),
        (trust(issuer="token.actions.githubusercontent.com"), 2, "is not a URL"),
        (trust(jwks=str(tmp_path / "missing.json")), 1, "No such file"),
        (trust(jwks=str(not_json)), 1, "is not a valid JWKS"),
        (trust(), 1, "names account 'ci'"),  # no client, user or table of 'ci' yet
    ]
    for result, code, words in cases:
        assert result.returncode == code, (words, result.stderr)
        assert words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert sum("error:" in line for line in result.stderr.splitlines()) == 1
    listed = kaskada("server", "list-issuers", "--json", "--db", str(db))
    assert listed.returncode != 0 or json.loads(listed.stdout) == []
    slash = trust("--new-account", issuer=ISSUER + "/")
    assert slash.returncode == 0 and "ends with '/'" in slash.stderr
    anything = trust("--any-subject", subject="*")
    assert anything.returncode == 0, anything.stderr  # 'ci' is known now


def test_a_redirected_key_set_is_not_followed(tmp_path: Path, issuer: Issuer) -> None:
    hits: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path == "/jwks":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.end_headers()
                return
            body = json.dumps(issuer.jwks).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_http(Redirect) as base:
        out = kaskada("server", "trust-issuer", "--db", str(tmp_path / "r.sqlite3"),
                      "--issuer", ISSUER, "--jwks", f"{base}/jwks", "--audience", AUDIENCE,
                      "--subject", SUBJECT, "--account", "ci", "--new-account")
    assert out.returncode == 1 and "redirect" in out.stderr, out.stderr
    assert hits == ["/jwks"]
