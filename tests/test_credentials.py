"""The credentials interface: one small base class, one subclass per kind, an injected transport."""

from __future__ import annotations

import pytest

from kaskada import Secret
from kaskada.credentials import (
    ClientSecretCredentials,
    Credentials,
    GivenSecret,
    Request,
    StoredSecret,
    TokenCredentials,
)
from kaskada.credentials.access_token import Token
from tests.token_fakes import FakeRequest, ManualClock

URL = "http://127.0.0.1:9/oauth/token"
CANARY = "canary-secret-c4n4ry"


def test_refresh_uses_the_transport_it_is_given_and_apply_sets_the_bearer_header(
    clock: ManualClock,
) -> None:
    default, given = FakeRequest(clock), FakeRequest(clock)
    creds = ClientSecretCredentials(
        URL, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None, request=default
    )
    assert not creds.valid and creds.token is None
    creds.refresh(given)
    assert len(given.forms) == 1 and default.forms == []
    assert given.forms[0]["client_secret"] == CANARY
    assert creds.valid
    headers: dict[str, str] = {}
    creds.apply(headers)
    assert creds.token is not None
    assert headers == {"authorization": "Bearer " + creds.token.reveal()}
    assert default.forms == []  # a valid token needs no exchange


def test_the_secret_is_read_from_its_store_only_when_a_token_is_bought(
    clock: ManualClock,
) -> None:
    reads: list[str] = []

    class CountingStore(GivenSecret):
        def get(self) -> Secret:
            reads.append("read")
            return super().get()

    creds = ClientSecretCredentials(
        URL, "cid", CountingStore(Secret(CANARY)), None, timeout=5, ca_bundle=None,
        request=FakeRequest(clock),
    )  # fmt: skip
    assert reads == []
    creds.get()
    creds.get()
    assert reads == ["read"]


def test_a_new_kind_is_one_subclass(clock: ManualClock) -> None:
    """A kind the package does not know (here: a token read from a callback) fits the interface."""

    class CallbackCredentials(Credentials):
        def _new_token(self, request: Request, stale: Secret | None) -> Token:
            now = clock.monotonic()
            return Token(Secret("from-callback"), "Bearer", 100.0, now + 50, now + 100)

    creds = CallbackCredentials()
    headers: dict[str, str] = {}
    creds.apply(headers)
    assert headers["authorization"] == "Bearer from-callback"
    assert creds.for_call().on_rejected(Secret("from-callback")) is not None


def test_a_pre_issued_token_is_used_as_is_and_never_refreshed() -> None:
    creds = TokenCredentials(Secret("jwt-value"))
    creds.refresh(FakeRequest())
    assert creds.valid and not creds.refreshable
    assert creds.for_call().on_rejected(Secret("jwt-value")) is None
    headers: dict[str, str] = {}
    creds.apply(headers)
    assert headers == {"authorization": "Bearer jwt-value"}


def test_a_stored_secret_is_a_plain_value() -> None:
    """Settings hold where a secret lives, never an object that reads the keyring."""
    where = StoredSecret("dev", "cid", "kaskada-test", (("client_id", "cid"),))
    assert where == StoredSecret("dev", "cid", "kaskada-test", (("client_id", "cid"),))
    assert hash(where) == hash(StoredSecret("dev", "cid", "kaskada-test", (("client_id", "cid"),)))
    assert str(where) == "********"
    assert where.fingerprint() != StoredSecret("dev", "other", "kaskada-test", ()).fingerprint()
    with pytest.raises(AttributeError):
        where.reveal  # type: ignore[attr-defined]  # noqa: B018
