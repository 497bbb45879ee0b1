"""Device and federated sign-in against hostile or broken servers and files (red-team
findings F5-F16 of issue 21): refresh tokens bound to their issuer, metadata endpoints
under the TLS rule, no redirects with a bearer, one clear line for every failure."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    InsecureConnectionError,
    KaskadaError,
    SecretBindingError,
    UntrustedConfigError,
)
from kaskada._secret import Secret
from kaskada.config.paths import keyring_service
from kaskada.credentials.signin import DeviceCredentials
from kaskada.settings.values import SignIn
from tests.capture import CaptureHTTP
from tests.oauth_helpers import kaskada, write_profile

FIELDS = {"client_id": "kaskada-cli", "endpoint": "127.0.0.1:41403",
          "exchange_endpoint": "http://127.0.0.1:41404/oauth/token"}


def _device(fields: dict[str, Any], issuer: str | None = None) -> DeviceCredentials:
    """The credentials of a device profile 'me' with these fields (no file needed)."""
    own = {**fields, "auth": "device", **({"issuer": issuer} if issuer else {})}
    sign_in = SignIn("device", "me", keyring_service(), issuer.rstrip("/") if issuer else None,
                     None, None, tuple(own.items()))
    return DeviceCredentials(sign_in, fields.get("exchange_endpoint", ""), "kaskada-cli",
                             None, timeout=5, ca_bundle=None)


def test_refresh_token_is_bound_to_its_issuer(memory_keyring: Any) -> None:
    """F5: the issuer's metadata decides where a refresh token goes, so changing the
    profile's issuer (an edit or an import) keeps the stored token from being sent."""
    _device(FIELDS, "https://a.example").store("RT-CANARY")
    same = _device(FIELDS, "https://a.example/")
    assert same.stored() == Secret("RT-CANARY")
    moved = _device(FIELDS, "https://evil.example")
    with pytest.raises(SecretBindingError) as caught:
        moved.stored()
    message = str(caught.value)
    assert "issuer was 'https://a.example', is 'https://evil.example'" in message
    assert "kaskada login --profile me" in message
    assert "RT-CANARY" not in message
    added = _device({k: v for k, v in FIELDS.items() if k != "exchange_endpoint"},
                    "https://evil.example")
    with pytest.raises(SecretBindingError):
        added.stored()


FEDERATED_FILE = """
[profiles.share]
auth = "federated"
client_id = "kaskada-cli"
endpoint = "127.0.0.1:41403"
exchange_endpoint = "http://127.0.0.1:9/oauth/token"
subject_token_file = "~/id_fake"

[profiles.share2]
auth = "federated"
client_id = "kaskada-cli"
endpoint = "127.0.0.1:41403"
exchange_endpoint = "http://127.0.0.1:9/oauth/token"
subject_token_env = "AWS_SECRET_ACCESS_KEY"
"""


def test_import_shows_and_refuses_subject_token_sources(tmp_path: Path) -> None:
    """F9: a federated profile reads a file or a variable and sends it to the file's token
    endpoint, as a secret_env would: shown, and imported only when accepted."""
    from kaskada import profiles

    source = tmp_path / "fed.toml"
    source.write_text(FEDERATED_FILE)
    with pytest.raises(ConfigError) as caught:
        profiles.import_file(source)
    message = str(caught.value)
    assert "'share' sends the file ~/id_fake as its subject token" in message
    assert "'share2' sends $AWS_SECRET_ACCESS_KEY as its subject token" in message
    assert "--accept-secret-sources" in message
    assert profiles.names() == []
    result = kaskada("profile", "import", str(source))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "AWS_SECRET_ACCESS_KEY" in result.stderr
    assert profiles.import_file(source, accept_secret_sources=True)
    assert sorted(profiles.names()) == ["share", "share2"]


def test_untrusted_config_never_reads_a_subject_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F9: a config another account can write never decides what is read as a subject
    token; a value that is not a JWT (an AWS secret, a private key) is never sent."""
    config = write_profile("share2", {
        "auth": "federated", "client_id": "kaskada-cli", "endpoint": "127.0.0.1:41403",
        "exchange_endpoint": "http://127.0.0.1:9/oauth/token",
        "subject_token_env": "AWS_SECRET_ACCESS_KEY"})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "AWS-CANARY")
    import kaskada as kda
    from kaskada.credentials.signin import FederatedCredentials

    federated = kda.session(profile="share2").credentials
    assert isinstance(federated, FederatedCredentials)
    with pytest.raises(IncompleteCredentialsError) as not_jwt:
        federated.subject_token()
    assert "not a JWT" in str(not_jwt.value) and "AWS-CANARY" not in str(not_jwt.value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "eyJh.eyJi.c2ln")
    assert federated.subject_token() == "eyJh.eyJi.c2ln"
    config.chmod(0o666)
    with pytest.raises(UntrustedConfigError) as untrusted:
        federated.subject_token()
    assert "chmod 600" in str(untrusted.value)


def _metadata_server(token_endpoint: str) -> CaptureHTTP:
    """An issuer on loopback whose metadata sends the token endpoint elsewhere."""
    holder: dict[str, str] = {}

    def respond(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        document = {"issuer": holder["issuer"], "token_endpoint": token_endpoint,
                    "revocation_endpoint": token_endpoint.replace("token", "revoke")}
        return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()

    server = CaptureHTTP(respond)
    holder["issuer"] = f"http://127.0.0.1:{server.port}"
    return server


def test_metadata_endpoints_obey_the_tls_rule_before_anything_is_sent(tmp_path: Path) -> None:
    """F10: a token endpoint read from the issuer's metadata that is plain http off
    loopback is refused as one written in the profile would be; nothing is POSTed."""
    subject = tmp_path / "fedtok"
    subject.write_text("eyJh.eyJi.FED-CANARY")
    issuer = _metadata_server("http://192.0.2.2:9/oauth/token")
    try:
        write_profile("d", {"auth": "federated", "client_id": "kaskada-cli",
                            "endpoint": "127.0.0.1:9", "issuer": f"http://127.0.0.1:{issuer.port}",
                            "subject_token_file": str(subject), "token_cache": False})
        result = kaskada("token", "--profile", "d")
        assert result.returncode == 1, result.stderr  # as for a profile's own http endpoint
        assert "token_endpoint = 'http://192.0.2.2:9/oauth/token'" in result.stderr
        assert "plain http on a non-loopback host" in result.stderr
        assert "Traceback" not in result.stderr and "FED-CANARY" not in result.stderr
        assert [request["method"] for request in issuer.requests] == ["GET"]
    finally:
        issuer.close()


@pytest.mark.parametrize(("url", "issuer", "allow", "refused"), [
    ("https://auth.example/oauth/token", "https://auth.example", False, None),
    ("http://127.0.0.1:5/oauth/token", "https://auth.example", False, None),
    ("http://auth.example/oauth/token", "https://auth.example", True, InsecureConnectionError),
    ("http://auth.example/oauth/token", "http://127.0.0.1:5", False, InsecureConnectionError),
    ("http://auth.example/oauth/token", "http://auth.example", True, None),
    ("file:///etc/passwd", "https://auth.example", True, ConfigError),
    ("https://auth.example:port/x", "https://auth.example", False, ConfigError),
])
def test_metadata_url_rule(url: str, issuer: str, allow: bool,
                           refused: type[Exception] | None) -> None:
    """F10: https endpoints always; plain http to loopback; plain http elsewhere only with
    allow_insecure and never as a downgrade from an https issuer; other schemes never."""
    from kaskada.credentials.signin import check_metadata_url

    if refused is None:
        check_metadata_url(url, "token_endpoint", "M", issuer=issuer, allow_insecure=allow)
    else:
        with pytest.raises(refused):
            check_metadata_url(url, "token_endpoint", "M", issuer=issuer, allow_insecure=allow)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_issuer_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """F15: an issuer that cannot be reached is 'unreachable' (exit 1), not refused
    credentials (exit 4)."""
    subject = tmp_path / "fedtok"
    subject.write_text("eyJh.eyJi.c2ln")
    issuer = f"http://127.0.0.1:{_closed_port()}"
    write_profile("d", {"auth": "federated", "client_id": "kaskada-cli",
                        "endpoint": "127.0.0.1:9", "issuer": issuer,
                        "subject_token_file": str(subject), "token_cache": False})
    result = kaskada("token", "--profile", "d")
    assert result.returncode == 1, result.stderr
    assert f"the issuer {issuer} could not be reached" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


class HostileDeviceServer:
    """A device authorization server on loopback answering what a test scripts: the
    device endpoint's JSON document, and the token endpoint's (status, document)."""

    def __init__(self, device: dict[str, Any],
                 token: tuple[int, dict[str, Any]] = (400, {"error": "authorization_pending"})
                 ) -> None:
        def respond(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
            status, document = (200, device) if "device_authorization" in request["path"] \
                else token
            return status, {"Content-Type": "application/json"}, json.dumps(document).encode()

        self.http = CaptureHTTP(respond)
        self.base = f"http://127.0.0.1:{self.http.port}"

    def profile(self, **more: Any) -> None:
        write_profile("me", {"auth": "device", "client_id": "kaskada-cli",
                             "endpoint": "127.0.0.1:9",
                             "exchange_endpoint": f"{self.base}/oauth/token", **more})

    def polls(self) -> int:
        return sum(1 for request in self.http.requests if request["path"] == "/oauth/token")

    def __enter__(self) -> HostileDeviceServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()


GOOD = {"device_code": "DC-CANARY", "user_code": "WDJB-MJHT",
        "verification_uri": "http://127.0.0.1:1/device", "interval": 1, "expires_in": 600}


@pytest.mark.parametrize("uri", [
    "javascript:alert(document.cookie)", "file:///etc/passwd", "data:text/html,<b>x</b>",
    "http://phish.example/device", "https://", "http://127.0.0.1:1/device\x1b[2J",
])
def test_verification_uri_must_be_http_s(uri: str) -> None:
    """F7: an address the person is told to open is http(s) (https off loopback), or
    the login stops with one line before anything is shown."""
    for key in ("verification_uri", "verification_uri_complete"):
        with HostileDeviceServer({**GOOD, key: uri}) as server:
            server.profile()
            result = kaskada("login", "--profile", "me", timeout=30)
            assert result.returncode == 1, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and f"gave {key} = " in lines[0], result.stderr
            assert "not an http(s) address" in lines[0] or "plain http" in lines[0]
            assert result.stdout == "" and server.polls() == 0


def test_notebook_link_is_escaped_http_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """F7: the notebook's link carries only an http(s) address, escaped for HTML."""
    from kaskada.credentials import login as device_login

    device = {**GOOD, "verification_uri_complete":
              'http://127.0.0.1:1/device?user_code=A"onmouseover="alert(1)&x=<b>'}
    with HostileDeviceServer(device, (400, {"error": "access_denied"})) as server:
        server.profile()
        monkeypatch.setattr(device_login.DeviceLoginHandle, "_run", lambda self, say: None)
        handle = device_login.login("me")
        html = handle._repr_html_()
    assert 'href="http://127.0.0.1:1/device?user_code=A&quot;onmouseover=&quot;alert(1)' \
           '&amp;x=&lt;b&gt;"' in html
    assert "<b>" not in html.replace("<b>me</b>", "")


@pytest.mark.parametrize(("key", "value"), [
    ("interval", "soon"), ("interval", None), ("expires_in", [1]), ("interval", "nan"),
    ("expires_in", True),
])
def test_non_numeric_interval_or_expiry_is_one_error(key: str, value: Any) -> None:
    """F6: a server's non-numeric interval or expires_in is one clear line, no traceback
    (None: the key is absent, so the RFC's default applies and the login goes on)."""
    device = {**GOOD, key: value} if value is not None else {
        k: v for k, v in GOOD.items() if k != key}
    with HostileDeviceServer(device, (400, {"error": "access_denied"})) as server:
        server.profile()
        result = kaskada("login", "--profile", "me", timeout=60)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    if value is None:
        assert result.returncode == 4 and "denied" in lines[-1]
    else:
        assert result.returncode == 1 and len(lines) == 1
        assert f"gave {key} = " in lines[0] and "not a number of seconds" in lines[0]


@pytest.mark.parametrize("missing", ["verification_uri", "user_code"])
def test_missing_verification_uri_or_user_code_is_one_error(missing: str) -> None:
    """F6: without an address or a code nobody can approve: one line, no polling."""
    device = {k: v for k, v in GOOD.items() if k != missing}
    with HostileDeviceServer(device) as server:
        server.profile()
        result = kaskada("login", "--profile", "me", timeout=30)
        assert result.returncode == 1 and server.polls() == 0
    assert result.stderr.strip().splitlines() == [
        f"kaskada: error: the device authorization endpoint {server.base}/oauth/"
        f"device_authorization gave no {missing}: nobody could approve this sign-in (the "
        "server is not an RFC 8628 server, or is broken)"]


def test_expiry_is_honoured_while_the_server_keeps_saying_pending() -> None:
    """F6: a server that answers authorization_pending for ever (and a zero interval)
    cannot keep the client polling past the code's expires_in, nor faster than 1/s."""
    with HostileDeviceServer({**GOOD, "interval": 0, "expires_in": 2}) as server:
        server.profile()
        result = kaskada("login", "--profile", "me", timeout=60)
        polls = server.polls()
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "kaskada: error: the code expired before it was approved: run `kaskada login` again")
    assert 1 <= polls <= 3  # at most one a second for two seconds (and one at the deadline)


def test_huge_interval_is_clamped() -> None:
    """F6: interval = 1e9 is clamped (to MAX_INTERVAL), so expiry still ends the login."""
    from kaskada.credentials.login import MAX_INTERVAL, _seconds

    assert _seconds({"interval": 1e9}, "interval", "W", 5, 1, MAX_INTERVAL) == MAX_INTERVAL
    assert _seconds({"interval": 0}, "interval", "W", 5, 1, MAX_INTERVAL) == 1
    assert _seconds({}, "interval", "W", 5, 1, MAX_INTERVAL) == 5
    with pytest.raises(KaskadaError, match="not a number of seconds"):
        _seconds({"interval": float("inf")}, "interval", "W", 5, 1, MAX_INTERVAL)


def _answer_500(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return 500, {"Content-Type": "text/plain"}, b"boom"


def test_token_endpoint_down_or_500_is_one_line_for_every_kind(tmp_path: Path) -> None:
    """F15: a device login, a federated call and `profile check --all` against a token
    endpoint that is down (or answers 500) say so in one line and exit 1: no traceback."""
    subject = tmp_path / "fedtok"
    subject.write_text("eyJh.eyJi.c2ln")
    down = f"http://127.0.0.1:{_closed_port()}/oauth/token"
    failing = CaptureHTTP(_answer_500)
    try:
        for url in (down, failing.url):
            write_profile("fd", {"auth": "federated", "client_id": "kaskada-cli",
                                 "endpoint": "127.0.0.1:9", "exchange_endpoint": url,
                                 "subject_token_file": str(subject), "token_cache": False})
            for args in (("token", "--profile", "fd"), ("table", "list")):
                result = kaskada(*args)
                assert result.returncode == 1, result.stderr
                assert result.stderr.strip().splitlines() == [
                    f"kaskada: error: the token endpoint {url} could not be reached "
                    f"({'HTTP 500' if url == failing.url else '[Errno 111] Connection refused'})"
                    ": check that the server is running"], result.stderr
            checked = kaskada("profile", "check", "--all")
            assert "Traceback" not in checked.stderr and checked.returncode != 0
            assert "could not be reached" in checked.stdout + checked.stderr
            write_profile("dd", {"auth": "device", "client_id": "kaskada-cli",
                                 "endpoint": "127.0.0.1:9", "exchange_endpoint": url})
            login = kaskada("login", "--profile", "dd")
            assert login.returncode == 1 and "Traceback" not in login.stderr
            assert len(login.stderr.strip().splitlines()) == 1
            assert "could not be reached" in login.stderr
    finally:
        failing.close()


def test_logout_keeps_a_refresh_token_it_could_not_revoke(real_keyring: str) -> None:
    """F15: logout with the server down keeps the refresh token (deleting it would leave
    it valid at the server with no way to revoke it) and says so; --local forgets it."""
    url = f"http://127.0.0.1:{_closed_port()}/oauth/token"
    fields = {"client_id": "kaskada-cli", "endpoint": "127.0.0.1:9", "exchange_endpoint": url}
    write_profile("me", {"auth": "device", **fields})
    login = _device(fields)
    login.store("RT-CANARY")
    kept = kaskada("logout", "--profile", "me")
    assert kept.returncode == 1, kept.stderr
    lines = kept.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be reached" in lines[0]
    assert "it was kept" in lines[0] and "kaskada logout --profile me --local" in lines[0]
    assert "RT-CANARY" not in kept.stderr + kept.stdout
    assert login.stored() == Secret("RT-CANARY")
    forgot = kaskada("logout", "--profile", "me", "--local")
    assert forgot.returncode == 0, forgot.stderr
    assert "deleted here (not revoked at the server)" in forgot.stderr
    assert login.stored() is None


def test_github_actions_request_never_follows_a_redirect_nor_goes_in_clear() -> None:
    """F11: the OIDC request's bearer never follows a redirect to another host, and is
    never sent over plain http off loopback."""
    elsewhere = CaptureHTTP(lambda request: (200, {}, b'{"value": "eyJh.eyJi.c2ln"}'))
    redirect = CaptureHTTP(lambda request: (302, {"Location": elsewhere.url + "/steal"}, b""))
    try:
        write_profile("g", {"auth": "federated", "client_id": "kaskada-cli",
                            "endpoint": "127.0.0.1:9", "token_cache": False,
                            "exchange_endpoint": f"http://127.0.0.1:{_closed_port()}/t"})
        env = {**os.environ, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "GHA-REQUEST-CANARY",
               "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{redirect.port}/r?x=1"}
        result = kaskada("token", "--profile", "g", env=env)
        assert result.returncode == 4, result.stderr
        assert "OIDC request" in result.stderr and len(result.stderr.splitlines()) == 1
        assert len(redirect.requests) == 1 and elsewhere.requests == []
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "http://192.0.2.2:9/direct"
        clear = kaskada("token", "--profile", "g", env=env)
        assert clear.returncode == 1, clear.stderr
        assert clear.stderr.strip().splitlines() == [
            "kaskada: error: ACTIONS_ID_TOKEN_REQUEST_URL is not an https URL (scheme 'http', "
            "host '192.0.2.2'): the request token is never sent in clear or elsewhere; GitHub "
            "Actions sets an https URL"]
        assert "GHA-REQUEST-CANARY" not in result.stderr + clear.stderr
    finally:
        redirect.close()
        elsewhere.close()


def test_refresh_lock_obeys_the_cache_folders_trust_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring: Any
) -> None:
    """F16: the refresh lock is never taken in a folder others can write, nor through a
    symbolic link: one clear error, nothing sent, the link's target untouched."""
    import hashlib

    from kaskada.config import paths

    sent: list[str] = []

    def request(url: str, form: dict[str, str], **_: Any) -> tuple[int, bytes]:
        sent.append(url)
        return 400, b'{"error": "invalid_grant"}'

    login = _device(FIELDS)
    login.store("RT-CANARY")
    shared = tmp_path / "sharedcache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("KASKADA_CACHE_DIR", str(shared))
    with pytest.raises(ConfigError, match="writable by others: chmod 700 it"):
        login.refresh(request)
    shared.chmod(0o700)
    key = hashlib.sha256(f"{paths.keyring_service()}\0me".encode()).hexdigest()[:24]
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (shared / f"refresh-{key}.lock").symlink_to(victim)
    with pytest.raises(ConfigError, match="is a symbolic link, which is never followed"):
        login.refresh(request)
    assert sent == [] and victim.read_text() == "keep me"
    assert login.stored() == Secret("RT-CANARY")


def test_messages_for_the_new_kinds_lead_somewhere(tmp_path: Path) -> None:
    """F13: an issuer in a client-secret profile is an error, not silently ignored; a
    refused federated exchange points at the subject token, not `kaskada configure`;
    `kaskada login` for another kind names the `profile set` that makes it a device
    profile."""
    write_profile("cs", {"client_id": "abc", "issuer": "https://auth.example"})
    result = kaskada("token", "--profile", "cs")
    assert result.returncode == 1
    assert "issuer is read only by a device or federated sign-in" in result.stderr
    assert "`kaskada profile set cs auth device`" in result.stderr
    write_profile("cs", {"client_id": "abc", "secret_env": "CS_SECRET"})
    login = kaskada("login", "--profile", "cs", env={**os.environ, "CS_SECRET": "s"})
    assert "`kaskada profile set cs auth device`" in login.stderr

    subject = tmp_path / "fedtok"
    subject.write_text("eyJh.eyJi.c2ln")
    refusing = CaptureHTTP(lambda request: (401, {"Content-Type": "application/json"},
                                            b'{"error": "invalid_client"}'))
    try:
        write_profile("fd", {"auth": "federated", "client_id": "kaskada-cli",
                             "endpoint": "127.0.0.1:9", "exchange_endpoint": refusing.url,
                             "subject_token_file": str(subject), "token_cache": False})
        refused = kaskada("token", "--profile", "fd")
    finally:
        refusing.close()
    assert refused.returncode == 4, refused.stderr
    assert f"the subject token (read from file {subject})" in refused.stderr
    assert "configure" not in refused.stderr
