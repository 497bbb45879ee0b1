"""The refresh-token reuse grace (docs/server.md, docs/protocol.md): a rotated token that
comes back within REFRESH_REUSE_GRACE of its rotation, while the token that replaced it
was never used, gets a fresh pair (a client died between the server's answer and its
keyring write); after the window, after the successor was used, past the replay cap, or
when the unused successor turns up after all, the family is revoked as before.

A real ``kaskada serve`` on loopback (in this process) answers over HTTP; time is a
ManualClock the test moves (``kaskada._clock``), never a sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskada.server import start_server
from kaskada.server.oauth_store import (
    REFRESH_GRACE_REPLAYS,
    REFRESH_REUSE_GRACE,
    OAuthStore,
)
from kaskada.server.store import hash_token
from tests.oauth_helpers import PASSWORD, device_tokens, refresh
from tests.token_fakes import ManualClock

NO_LONGER_VALID = (400, {"error": "invalid_grant",
                         "error_description": "the refresh token is no longer valid: "
                                              "sign in again"})


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    with start_server(db=tmp_path / "server.sqlite3") as running:
        OAuthStore(running.store).add_user("dev", "alice", PASSWORD)
        yield running


def _row(server: Any, token: str) -> dict[str, Any]:
    connection = server.store._connect()
    cursor = connection.execute(
        "SELECT family, expires, used, revoked, superseded FROM refresh_tokens"
        " WHERE token_hash = ?", (hash_token(token),))
    found = cursor.fetchone()
    assert found is not None
    return dict(zip([c[0] for c in cursor.description], found, strict=True))


def _family_revoked(server: Any, token: str) -> bool:
    """Every refresh token of the family revoked (a grace replay revokes only one)."""
    return not server.store._connect().execute(
        "SELECT count(*) FROM refresh_tokens WHERE family = ? AND revoked IS NULL",
        (_row(server, token)["family"],)).fetchone()[0]


def _live(server: Any, token: str) -> int:
    """Refresh tokens of the family that nobody used and nothing revoked."""
    return int(server.store._connect().execute(
        "SELECT count(*) FROM refresh_tokens WHERE family = ? AND used IS NULL"
        " AND revoked IS NULL", (_row(server, token)["family"],)).fetchone()[0])


def test_a_client_that_lost_the_answer_gets_a_fresh_pair_within_the_grace(
        server: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    assert REFRESH_REUSE_GRACE == 30  # as docs/server.md and docs/protocol.md say
    first = device_tokens(server)
    r1 = first["refresh_token"]
    status, second = refresh(server, r1)  # the answer the client died before storing
    assert status == 200
    r2, a2 = second["refresh_token"], second["access_token"]
    clock.advance(REFRESH_REUSE_GRACE - 1)
    with caplog.at_level(logging.INFO, logger="kaskada.server"):
        status, third = refresh(server, r1)
    assert status == 200, third
    r3 = third["refresh_token"]
    assert r3 not in (r1, r2) and third["access_token"] != a2
    assert "grace" in caplog.text and r1 not in caplog.text and r3 not in caplog.text
    assert _row(server, r2)["revoked"] is not None  # never used by anyone: revoked
    assert server.store.lookup_token(a2) is None  # with the access token it came with
    assert server.store.lookup_token(third["access_token"]) is not None
    assert not _family_revoked(server, r1) and _live(server, r1) == 1
    status, fourth = refresh(server, r3)  # the login goes on from the fresh pair
    assert status == 200 and fourth["refresh_token"] not in (r1, r2, r3)
    assert _live(server, r1) == 1


def test_after_the_grace_window_a_replay_revokes_the_family(
        server: Any, clock: ManualClock) -> None:
    r1 = device_tokens(server)["refresh_token"]
    status, second = refresh(server, r1)
    assert status == 200
    clock.advance(REFRESH_REUSE_GRACE + 1)
    assert refresh(server, r1) == NO_LONGER_VALID
    assert _family_revoked(server, r1) and _live(server, r1) == 0
    assert refresh(server, second["refresh_token"]) == NO_LONGER_VALID
    assert server.store.lookup_token(second["access_token"]) is None


def test_a_replay_after_the_successor_was_used_revokes_the_family(
        server: Any, clock: ManualClock) -> None:
    """Two parties hold the family (the successor was used): as before the grace, even a
    second later."""
    r1 = device_tokens(server)["refresh_token"]
    r2 = refresh(server, r1)[1]["refresh_token"]
    status, third = refresh(server, r2)
    assert status == 200
    clock.advance(1)
    assert refresh(server, r1) == NO_LONGER_VALID
    assert _family_revoked(server, r1) and _live(server, r1) == 0
    assert server.store.lookup_token(third["access_token"]) is None
    assert refresh(server, third["refresh_token"]) == NO_LONGER_VALID


def test_the_superseded_token_turning_up_later_is_reuse(server: Any, clock: ManualClock) -> None:
    """Whoever replayed R1 within the grace took the login from the holder of R2 (if
    there was one after all): R2 presented later revokes the family, the replayer's too."""
    r1 = device_tokens(server)["refresh_token"]
    r2 = refresh(server, r1)[1]["refresh_token"]
    clock.advance(5)
    r3 = refresh(server, r1)[1]["refresh_token"]
    assert refresh(server, r2) == NO_LONGER_VALID
    assert _family_revoked(server, r1) and _live(server, r1) == 0
    assert refresh(server, r3) == NO_LONGER_VALID


def test_a_grace_replay_keeps_the_family_s_absolute_lifetime(
        server: Any, clock: ManualClock) -> None:
    r1 = device_tokens(server)["refresh_token"]
    family_expiry = _row(server, r1)["expires"]
    r2 = refresh(server, r1)[1]["refresh_token"]
    clock.advance(10)
    r3 = refresh(server, r1)[1]["refresh_token"]
    assert _row(server, r2)["expires"] == _row(server, r3)["expires"] == family_expiry
    with server.store._write() as connection:  # the 30 days are nearly over
        connection.execute("UPDATE refresh_tokens SET expires = ? WHERE family = ?",
                           (clock.time() + 120, _row(server, r1)["family"]))
    clock.advance(5)
    status, answer = refresh(server, r1)  # the second replay allowed
    assert status == 200 and answer["expires_in"] <= 120  # no token outlives the login
    assert _row(server, answer["refresh_token"])["expires"] == clock.time() + 115
    clock.advance(116)  # the login is over: no replay brings it back
    assert refresh(server, answer["refresh_token"]) == NO_LONGER_VALID


def test_replays_are_bounded_in_number_and_by_the_first_rotation(
        server: Any, clock: ManualClock) -> None:
    """R1 may come back REFRESH_GRACE_REPLAYS times, each answer replacing the previous
    unused one (one live token at a time); once more is reuse. The window counts from
    R1's first rotation: a replay does not renew it."""
    assert REFRESH_GRACE_REPLAYS == 2
    r1 = device_tokens(server)["refresh_token"]
    answers = [refresh(server, r1)]
    for _ in range(REFRESH_GRACE_REPLAYS):
        clock.advance(5)
        answers.append(refresh(server, r1))
    assert [status for status, _ in answers] == [200] * 3
    tokens = [body["refresh_token"] for _, body in answers]
    assert len(set(tokens)) == 3
    assert [_row(server, t)["superseded"] is not None for t in tokens] == [True, True, False]
    assert _live(server, r1) == 1  # only the newest answer can be used
    clock.advance(5)
    assert refresh(server, r1) == NO_LONGER_VALID  # the third replay: reuse
    assert _family_revoked(server, r1) and _live(server, r1) == 0

    r1 = device_tokens(server)["refresh_token"]  # a new login: the window is not renewed
    assert refresh(server, r1)[0] == 200
    clock.advance(REFRESH_REUSE_GRACE - 5)
    assert refresh(server, r1)[0] == 200  # within 30 s of the rotation
    clock.advance(10)  # 35 s after the rotation, 10 s after the replay
    assert refresh(server, r1) == NO_LONGER_VALID
    assert _family_revoked(server, r1)
