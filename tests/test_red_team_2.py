"""Red team, second round (the sign-in kinds, kaskada.profiles and the server's new
limits, tried from outside): each test fails on the code before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kaskada._errors import ConfigError, IncompleteCredentialsError
from tests.capture import CaptureHTTP
from tests.helpers import python_command
from tests.oauth_helpers import kaskada, write_profile

ENDPOINT = "127.0.0.1:41403"


def _federated_file(path: Path) -> None:
    write_profile("ci", {"auth": "federated", "client_id": "kaskada-cli",
                         "endpoint": ENDPOINT,
                         "exchange_endpoint": "http://127.0.0.1:9/oauth/token",
                         "subject_token_file": str(path)})


def _one_line(result: Any, *parts: str) -> str:
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kaskada: error:"), result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def test_subject_token_file_not_utf8_is_one_line(tmp_path: Path) -> None:
    """R1: a subject token file that is not UTF-8 ended `kaskada token` in a traceback
    (UnicodeDecodeError is no OSError)."""
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfeey\x00J")
    _federated_file(path)
    _one_line(kaskada("token", "--profile", "ci"), str(path), "not UTF-8",
              "subject_token_file")


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_subject_token_file_that_is_a_fifo_never_blocks(tmp_path: Path) -> None:
    """R2: a subject token file that is a FIFO (nobody writing) froze every call for
    ever; now refused at once, nothing sent."""
    path = tmp_path / "token"
    os.mkfifo(path)
    _federated_file(path)
    _one_line(kaskada("token", "--profile", "ci", timeout=30), str(path),
              "not a regular file")


def test_subject_token_file_that_is_huge_is_refused_unread(tmp_path: Path) -> None:
    """R2: a huge subject token file was read whole into memory; now at most 64 KiB."""
    path = tmp_path / "token"
    with path.open("wb") as file:
        file.truncate(512 * 1024 * 1024)  # sparse: costs no disk
    from kaskada.credentials.signin import _read_token_file

    with pytest.raises(IncompleteCredentialsError) as caught:
        _read_token_file(path, "ci")
    assert "larger than 64 KiB" in str(caught.value) and str(path) in str(caught.value)


def test_subject_token_file_through_a_symbolic_link_is_read(tmp_path: Path) -> None:
    """What held: Kubernetes projects its tokens through links, which are followed."""
    (tmp_path / "real").write_text("eyJh.eyJi.c2ln\n")
    (tmp_path / "token").symlink_to(tmp_path / "real")
    from kaskada.credentials.signin import _read_token_file

    assert _read_token_file(tmp_path / "token", "ci") == "eyJh.eyJi.c2ln"


def test_refresh_token_never_goes_to_an_exchange_endpoint_given_with_profile(
    memory_keyring: Any,
) -> None:
    """R3: `kda.session(profile="me", exchange_endpoint=OTHER)` sent the device login's
    refresh token to OTHER, and when OTHER said invalid_grant, deleted it (a login ended
    by a typo in a notebook, its token still valid at its server)."""
    import kaskada as kda
    from kaskada import table

    def refuse(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return 400, {"Content-Type": "application/json"}, b'{"error": "invalid_grant"}'

    other = CaptureHTTP(refuse)
    try:
        write_profile("me", {"auth": "device", "client_id": "kaskada-cli",
                             "endpoint": ENDPOINT,
                             "exchange_endpoint": "http://127.0.0.1:9/oauth/token"})
        login = kda.session(profile="me").credentials
        login.store("RT-CANARY")  # type: ignore[attr-defined]
        moved = kda.session(profile="me",
                            exchange_endpoint=f"http://127.0.0.1:{other.port}/oauth/token")
        with pytest.raises(ConfigError) as caught:
            table.list_tables(session=moved)
        message = str(caught.value)
        assert "http://127.0.0.1:9/oauth/token" in message and "RT-CANARY" not in message
        assert other.requests == []
        assert login.stored() is not None  # type: ignore[attr-defined]
    finally:
        other.close()


@pytest.mark.parametrize("token", ["ab\ncd", "ab\u00e9cd", "ab\u0000cd"])
def test_command_token_that_cannot_travel_in_a_header_is_one_line(
    tmp_path: Path, token: str
) -> None:
    """R4: a secret_command printing a token with a newline or a non-ASCII character gave
    "ListTables … failed (INTERNAL): Invalid metadata", naming neither the command nor
    the fix; now refused as KASKADA_TOKEN's is, before any call."""
    document = json.dumps({"access_token": token, "expires_in": 3600})
    write_profile("cmd", {"client_id": "x", "endpoint": ENDPOINT, "is_secure": False,
                          "exchange_endpoint": "http://127.0.0.1:9/oauth/token",
                          "secret_command": python_command(f"print({document!r})")})
    line = _one_line(kaskada("table", "list", "--profile", "cmd"), "secret_command",
                     "cannot travel in a header")
    assert token not in line


def test_device_code_cap_counts_an_ipv6_peer_by_its_64(tmp_path: Path) -> None:
    """R5: the per-address cap on waiting device codes counted single IPv6 addresses, and
    any host is given a whole /64: it could take every code by changing its low bits.
    Now an IPv6 peer counts as its /64, and an IPv4-mapped one as its IPv4 address."""
    from kaskada.server.oauth_http import OAuthRoutes
    from kaskada.server.store import Store

    store = Store(tmp_path / "server.sqlite3")
    try:
        routes = OAuthRoutes(store, access_ttl=60, base_url="http://127.0.0.1:1",
                             failure=lambda peer: (0, ""), device_codes_per_peer=2)

        def ask(peer: str) -> int:
            answer = routes.handle("POST", "/oauth/device_authorization", {},
                                   {"client_id": "kaskada-cli"}, peer)
            return int(answer.status)

        assert [ask(f"2001:db8::{n:x}") for n in (1, 2, 3, 0xffff)] == [200, 200, 429, 429]
        assert ask("2001:db8:0:1::1") == 200  # another /64
        assert [ask("192.0.2.1"), ask("::ffff:192.0.2.1"), ask("192.0.2.1")] == [200, 200, 429]
    finally:
        store.close()


def test_a_secret_given_to_a_device_or_federated_profile_is_refused(
    memory_keyring: Any, tmp_path: Path
) -> None:
    """R6: `profile add NAME --auth device --secret-stdin` (or profiles.store_secret on a
    device profile) wrote the client secret into the refresh token's place: a live login
    overwritten unrevoked, and the secret then sent as a refresh token. For a federated
    profile the secret was dropped silently (exit 0)."""
    from kaskada import profiles

    write_profile("me", {"auth": "device", "client_id": "kaskada-cli",
                         "endpoint": ENDPOINT,
                         "exchange_endpoint": "http://127.0.0.1:9/oauth/token"})
    import kaskada as kda

    login = kda.session(profile="me").credentials
    login.store("RT-CANARY")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        profiles.store_secret("me", "SECRET-CANARY")
    assert "auth = 'device'" in str(caught.value) and "kaskada login --profile me" in str(
        caught.value)
    assert login.stored().reveal() == "RT-CANARY"  # type: ignore[attr-defined]
    for auth, extra in (("device", []), ("federated", ["--subject-token-env", "X"])):
        result = subprocess.run(
            [sys.executable, "-m", "kaskada", "profile", "add", f"new_{auth}", "--auth", auth,
             "--client-id", "kaskada-cli", "--secret-stdin", *extra],
            input="SECRET-CANARY", capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert f"auth = '{auth}', which has no client secret" in result.stderr
        assert f"new_{auth}" not in profiles.names()


def test_configure_never_rewrites_a_device_or_federated_profile(tmp_path: Path) -> None:
    """R7: `kaskada configure --profile me` on a device profile asked for a client secret
    and saved the profile without its auth (and issuer, subject token keys): the kind
    switched to client_secret and the login's refresh token was dropped."""
    path = write_profile("me", {"auth": "device", "client_id": "kaskada-cli",
                                "issuer": "https://auth.example"})
    before = path.read_bytes()
    result = kaskada("configure", "--profile", "me")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "auth = 'device'" in result.stderr and "kaskada profile set me" in result.stderr
    assert path.read_bytes() == before
