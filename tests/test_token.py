"""The token exchange: strict parsing (fuzzed), the wire form, errors, retries, single flight.

The token endpoint here is a real HTTP server on 127.0.0.1 (stdlib), so the
exchange goes through urllib exactly as it does against any OAuth2 server.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaskada import _token
from kaskada._errors import (
    AuthenticationError,
    TokenEndpointUnavailableError,
    UnavailableError,
)
from kaskada._secret import Secret

CANARY = "canary-s3cret-Zq9x"
URL = "http://127.0.0.1:1/oauth/token"


class FakeTokenEndpoint:
    """Answers from a script of (status, body); records every form it received."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.content_types: list[str] = []
        self.script: list[tuple[int, bytes]] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.ttl = 3600
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                with endpoint.lock:
                    endpoint.in_flight += 1
                    endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
                    endpoint.forms.append(urllib.parse.parse_qs(body))
                    endpoint.content_types.append(self.headers.get("Content-Type", ""))
                    status, payload = (
                        endpoint.script.pop(0) if endpoint.script else endpoint.answer()
                    )
                time.sleep(endpoint.delay)
                with endpoint.lock:
                    endpoint.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self) -> tuple[int, bytes]:
        number = len(self.forms)
        document = {"access_token": f"tok-{number}", "token_type": "Bearer", "expires_in": self.ttl}
        return 200, json.dumps(document).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint()
    yield fake
    fake.close()


# --- the pure parser --------------------------------------------------------------


def test_parse_good_response() -> None:
    body = b'{"access_token": "abc", "token_type": "bearer", "expires_in": 100}'
    token = _token.parse_token_response(200, body, now=1000.0, url=URL)
    assert token.access_token.reveal() == "abc"
    assert token.expires_at == 1100.0
    assert token.refresh_at == 1050.0  # half the lifetime when under 120 s
    long = _token.parse_token_response(
        200, b'{"access_token": "abc", "expires_in": 3600}', now=0.0, url=URL
    )
    assert long.refresh_at == 3540.0  # 60 s margin


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (
            401,
            b'{"error": "invalid_client", "error_description": "client revoked"}',
            "invalid_client: client revoked",
        ),
        (400, b'{"error": "invalid_request"}', "HTTP 400 invalid_request"),
        (200, b"<html>", "not a JSON object"),
        (200, b'{"token_type": "Bearer"}', "without an access_token"),
        (200, b'{"access_token": "a", "token_type": "mac"}', "not Bearer"),
        (200, b'{"access_token": "a", "expires_in": -5}', "invalid expires_in"),
        (200, b'{"access_token": "a\\nb"}', "cannot travel"),
        (200, '{"access_token": "caf\u00e9"}'.encode(), "cannot travel"),
        (403, b"nope", "HTTP 403"),
    ],
)
def test_parse_failures(status: int, body: bytes, fragment: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        _token.parse_token_response(status, body, now=0.0, url=URL)
    assert fragment in str(caught.value)
    assert URL in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
token_like = st.fixed_dictionaries(
    {},
    optional={
        "access_token": json_values,
        "token_type": json_values,
        "expires_in": json_values,
        "error": json_values,
        "error_description": json_values,
    },
)


@given(
    status=st.sampled_from([200, 200, 400, 401, 500]),
    body=st.one_of(
        st.binary(max_size=64),
        token_like.map(lambda d: json.dumps(d).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
    ),
)
def test_parse_never_fails_otherwise(status: int, body: bytes) -> None:
    """Any answer becomes a usable Token or an AuthenticationError, nothing else."""
    try:
        token = _token.parse_token_response(status, body, now=0.0, url=URL)
    except AuthenticationError:
        return
    assert status == 200
    assert token.access_token.reveal().strip()
    assert 0 < token.refresh_at < token.expires_at


# --- the exchange on the wire ---------------------------------------------------


def test_exchange_is_form_encoded_client_credentials(endpoint: FakeTokenEndpoint) -> None:
    token = _token.exchange(endpoint.url, "cid", Secret(CANARY), audience="aud", timeout=5)
    assert token.access_token.reveal() == "tok-1"
    assert endpoint.content_types == ["application/x-www-form-urlencoded"]
    assert endpoint.forms == [
        {
            "grant_type": ["client_credentials"],
            "client_id": ["cid"],
            "client_secret": [CANARY],
            "audience": ["aud"],
        }
    ]
    _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=5)
    assert "audience" not in endpoint.forms[1]


def test_refusal_carries_the_description_not_the_secret(endpoint: FakeTokenEndpoint) -> None:
    endpoint.script = [(401, b'{"error":"invalid_client","error_description":"bad secret"}')]
    with pytest.raises(AuthenticationError) as caught:
        _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=5)
    assert "bad secret" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert len(endpoint.forms) == 1  # a refusal is not retried


def test_transient_failures_are_retried(endpoint: FakeTokenEndpoint) -> None:
    endpoint.script = [(503, b"busy"), (500, b"oops")]
    token = _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=10)
    assert token.access_token.reveal() == "tok-3"
    assert len(endpoint.forms) == 3


def test_persistent_5xx_is_unavailable_not_a_refusal(endpoint: FakeTokenEndpoint) -> None:
    endpoint.script = [(500, b"x")] * _token.MAX_ATTEMPTS
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached"):
        _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=10)
    assert len(endpoint.forms) == _token.MAX_ATTEMPTS


def test_unreachable_endpoint_names_it() -> None:
    with pytest.raises(UnavailableError) as caught:
        _token.exchange("http://127.0.0.1:9/oauth/token", "cid", Secret(CANARY), timeout=2)
    assert "http://127.0.0.1:9/oauth/token" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert isinstance(caught.value, TokenEndpointUnavailableError)
    assert not isinstance(caught.value, AuthenticationError)  # an outage, not a refusal


def test_timeout_is_unavailable_not_a_refusal(endpoint: FakeTokenEndpoint) -> None:
    endpoint.delay = 1.0
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached"):
        _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=0.3)


# --- the cache ------------------------------------------------------------------


def test_token_source_caches_and_is_shared_per_key(endpoint: FakeTokenEndpoint) -> None:
    def source(secret: str = CANARY, audience: str | None = None) -> _token.TokenSource:
        return _token.token_source(
            endpoint.url, "cid", Secret(secret), audience, timeout=5, ca_bundle=None
        )

    assert source() is source()
    assert source() is not source(secret="other")
    assert source() is not source(audience="aud")
    first = source().get()
    assert source().get() is first
    assert len(endpoint.forms) == 1


def test_refresh_is_single_flight_and_due_at_half_life(endpoint: FakeTokenEndpoint) -> None:
    endpoint.ttl = 1  # refresh after 0.5 s
    endpoint.delay = 0.05
    tokens = _token.TokenSource(
        endpoint.url, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None
    )
    seen: set[str] = set()
    stop = time.monotonic() + 1.6

    def work() -> None:
        while time.monotonic() < stop:
            seen.add(tokens.get().reveal())
            time.sleep(0.002)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert endpoint.max_in_flight == 1
    # 1.6 s / 0.5 s per refresh: about 4 exchanges; 8 threads must not multiply that
    assert 2 <= len(endpoint.forms) <= 6
    assert len(seen) == len(endpoint.forms)


def test_invalidate_refreshes_once_for_many_callers(endpoint: FakeTokenEndpoint) -> None:
    tokens = _token.TokenSource(
        endpoint.url, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None
    )
    rejected = tokens.get()
    fresh = [tokens.invalidate(rejected) for _ in range(5)]
    assert {token.reveal() for token in fresh} == {"tok-2"}
    assert len(endpoint.forms) == 2


def test_a_token_endpoint_that_does_not_speak_http_is_one_clear_error() -> None:
    """A user who gives the gRPC port as the exchange endpoint gets a fix, not a traceback."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    answered = 0

    def answer_garbage() -> None:
        nonlocal answered
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00 not http\r\n\r\n")
            answered += 1

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/oauth/token"
    try:
        with pytest.raises(AuthenticationError, match="did not answer in HTTP") as caught:
            _token.exchange(url, "cid", Secret(CANARY), timeout=5)
    finally:
        thread.join(5)
        listener.close()
    assert url in str(caught.value) and CANARY not in str(caught.value)
    assert answered == 1  # not retried: it will not start speaking HTTP
