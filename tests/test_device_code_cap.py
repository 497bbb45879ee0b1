"""One address cannot take every waiting device code (docs/server.md): beyond its share
(MAX_PENDING_DEVICE_CODES_PER_PEER, ``--max-device-codes-per-address``) the device
authorization endpoint answers 429 with Retry-After, while other addresses still get
codes; a code that is decided or expired stops counting.

A real ``kaskada serve`` on loopback (in this process); requests come from chosen
loopback source addresses (127.0.0.x, as in test_server_pressure), time is a ManualClock
the test moves.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada.cli import build_parser
from kaskada.server import start_server
from kaskada.server.oauth_store import (
    DEVICE_CODE_TTL,
    MAX_PENDING_DEVICE_CODES,
    MAX_PENDING_DEVICE_CODES_PER_PEER,
    OAuthStore,
)
from tests.oauth_helpers import PASSWORD, decide_over_http, kaskada
from tests.token_fakes import ManualClock

OTHER = "127.0.0.2"


@pytest.fixture(autouse=True)
def other_loopback_address() -> None:
    with socket.socket() as probe:
        try:
            probe.bind((OTHER, 0))
        except OSError:
            pytest.skip(f"{OTHER} is not a loopback address here (only 127.0.0.1 on macOS)")


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        OAuthStore(running.store).add_user("dev", "alice", PASSWORD)
        yield running


def ask(server: Any, source: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST /oauth/device_authorization from ``source``: (status, headers, body)."""
    parts = urllib.parse.urlsplit(server.token_url)
    connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=30,
                                            source_address=(source, 0))
    try:
        connection.request("POST", "/oauth/device_authorization", body="client_id=kaskada-cli",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def test_one_address_gets_its_share_and_others_still_get_codes(
        server: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    assert MAX_PENDING_DEVICE_CODES_PER_PEER == 20 < MAX_PENDING_DEVICE_CODES
    mine = [ask(server, OTHER) for _ in range(20)]
    assert [status for status, _, _ in mine] == [200] * 20
    clock.advance(100)
    with caplog.at_level(logging.INFO, logger="kaskada.server"):
        refusals = [ask(server, OTHER) for _ in range(5)]
    for status, headers, body in refusals:
        assert status == 429 and body["error"] == "temporarily_unavailable"
        assert "20 sign-ins from this address are waiting" in body["error_description"]
        # a slot frees when the first code expires: 600 s after it, 100 s have passed
        assert headers["Retry-After"] == str(DEVICE_CODE_TTL - 100)
        assert f"try again in {DEVICE_CODE_TTL - 100} s" in body["error_description"]
    assert caplog.text.count("device authorizations refused") == 1  # a flood: one line
    assert ask(server, "127.0.0.1")[0] == 200  # the global pool still has room
    assert OTHER not in server._http.by_peer._buckets  # not counted as a failed sign-in

    # A decided code stops counting (approved or denied): the address gets one more each.
    for index, approve in ((0, True), (1, False)):
        assert decide_over_http(mine[index][2]["verification_uri_complete"],
                                approve=approve)[0] == 200
        assert ask(server, OTHER)[0] == 200
        assert ask(server, OTHER)[0] == 429

    # Expired codes stop counting: the address's 18 first codes, then all of them.
    clock.advance(DEVICE_CODE_TTL - 100)
    statuses = [ask(server, OTHER)[0] for _ in range(19)]
    assert statuses == [200] * 18 + [429]
    clock.advance(DEVICE_CODE_TTL)
    assert ask(server, OTHER)[0] == 200


def test_the_share_is_a_serve_option(tmp_path: Path, clock: ManualClock) -> None:
    with start_server(db=tmp_path / "server.sqlite3", max_device_codes_per_address=2) as server:
        assert [ask(server, OTHER)[0] for _ in range(3)] == [200, 200, 429]
        assert ask(server, "127.0.0.1")[0] == 200
    serve = build_parser().parse_args(["serve"])
    assert serve.max_device_codes_per_address == MAX_PENDING_DEVICE_CODES_PER_PEER
    refused = kaskada("serve", "--max-device-codes-per-address", "0")
    assert refused.returncode == 2 and "--max-device-codes-per-address" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_client_says_to_wait_not_to_change_its_client_id(
        tmp_path: Path, clock: ManualClock) -> None:
    """A 429 from device authorization is the server's limit, not a wrong client id:
    ``kaskada login`` says to try again later, with the server's own wait."""
    import kaskada as kda
    from kaskada._errors import TokenEndpointUnavailableError
    from kaskada.credentials import login as device_login
    from tests.oauth_helpers import device_profile

    with start_server(db=tmp_path / "server.sqlite3", max_device_codes_per_address=1) as server:
        device_profile(server)
        settings = kda.session(profile="me").settings
        device_login.start(settings)  # the address's one waiting code
        with pytest.raises(TokenEndpointUnavailableError) as waiting:
            device_login.start(settings)
    message = str(waiting.value)
    assert "asks to wait (HTTP 429 temporarily_unavailable" in message
    assert f"try again in {DEVICE_CODE_TTL} s" in message and "again later" in message
    assert "public client" not in message and "\n" not in message
