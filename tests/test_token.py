"""The token exchange: strict parsing (fuzzed), the wire form, errors, retries, single flight.

The wire tests use a real HTTP token endpoint on 127.0.0.1 (stdlib), so the
exchange goes through urllib exactly as it does against any OAuth2 server. The
token source's rules (refresh when due, single flight, the deadline, the cache
key) are shown with a fake transport passed as ``request=`` and a clock the test
moves (``_clock.use``): no test sleeps and counts on how busy the machine is.
"""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaskada._errors import (
    AuthenticationError,
    TokenEndpointUnavailableError,
    UnavailableError,
)
from kaskada._secret import Secret
from kaskada.credentials import tokens as _token
from tests.token_fakes import FakeRequest, FakeTokenEndpoint, ManualClock, token_body

CANARY = "canary-s3cret-Zq9x"
URL = "http://127.0.0.1:1/oauth/token"


@pytest.fixture
def endpoint(token_endpoint: FakeTokenEndpoint) -> FakeTokenEndpoint:
    return token_endpoint


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


def test_an_endpoint_that_does_not_answer_in_time_is_unreachable(
    endpoint: FakeTokenEndpoint,
) -> None:
    """The urllib transport's timeout: the endpoint holds its answer until the test lets
    it go, after the exchange gave up, so the timeout fires for certain."""
    endpoint.hold = threading.Event()
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached") as caught:
        _token.exchange(endpoint.url, "cid", Secret(CANARY), timeout=0.3)
    endpoint.hold.set()
    assert "timed out" in str(caught.value) and CANARY not in str(caught.value)


def test_an_attempt_that_times_out_uses_up_the_deadline(clock: ManualClock) -> None:
    request = FakeRequest(clock)
    request.script = ["timeout"] * 5
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached") as caught:
        _token.exchange(URL, "cid", Secret(CANARY), timeout=10, request=request)
    assert request.timeouts == [10]  # no second attempt: no time was left for one
    assert "timed out" in str(caught.value)


def test_retries_back_off_within_the_deadline(clock: ManualClock) -> None:
    request = FakeRequest(clock)
    request.script = [_token.TransientError("HTTP 500")] * 5  # what urllib's transport raises
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached"):
        _token.exchange(URL, "cid", Secret(CANARY), timeout=10, request=request)
    assert len(request.forms) == _token.MAX_ATTEMPTS
    first, second = clock.slept
    assert 0.05 <= first <= 0.1 and 0.1 <= second <= 0.2  # the one backoff (_retry)
    # each attempt gets what is left of the one deadline, not a fresh timeout
    assert request.timeouts == pytest.approx([10, 10 - first, 10 - first - second])


def test_no_pause_runs_past_the_deadline(clock: ManualClock) -> None:
    request = FakeRequest(clock)
    request.script = [_token.TransientError("refused")] * 5
    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached"):
        _token.exchange(URL, "cid", Secret(CANARY), timeout=0.04, request=request)
    assert len(request.forms) == 1 and clock.slept == []  # the shortest pause is 0.05 s


def test_a_server_that_asks_to_wait_is_reported_not_retried(clock: ManualClock) -> None:
    request = FakeRequest(clock)
    request.script = [(429, b'{"error": "slow_down", "error_description": "' + CANARY.encode()
                       + b' again"}')]  # fmt: skip
    with pytest.raises(TokenEndpointUnavailableError, match="asks to wait") as caught:
        _token.exchange(URL, "cid", Secret(CANARY), timeout=10, request=request)
    assert len(request.forms) == 1 and CANARY not in str(caught.value)


# --- the cache ------------------------------------------------------------------


def _shared(
    request: FakeRequest, secret: str = CANARY, audience: str | None = None, timeout: float = 5
) -> _token.Credentials:
    """The credentials of resolved settings, from the one owner of shared credentials."""
    from kaskada._session import resolve

    settings = resolve(client_id="cid", client_secret=secret, exchange_endpoint=URL,
                       audience=audience, timeout=timeout)
    return _token.credentials_for(settings, None, request)


def test_credentials_are_shared_per_sharing_key() -> None:
    request = FakeRequest()

    def source(
        secret: str = CANARY, audience: str | None = None, timeout: float = 5
    ) -> _token.Credentials:
        return _shared(request, secret, audience, timeout)

    assert isinstance(source(), _token.ClientSecretCredentials)
    assert source() is source()
    assert source() is not source(secret="other")
    assert source() is not source(audience="aud")
    first = source().get()
    assert source().get() is first
    assert len(request.forms) == 1


def test_each_timeout_gets_its_own_source_and_exchanges_with_it(clock: ManualClock) -> None:
    """The timeout is part of the key: the first session's timeout does not win for all."""
    request = FakeRequest()
    quick = _shared(request, timeout=2)
    patient = _shared(request, timeout=60)
    assert quick is not patient
    quick.get()
    patient.get()
    assert request.timeouts == [2, 60]


def test_refresh_is_due_at_half_life_and_single_flight(clock: ManualClock) -> None:
    """Eight threads call get() in each round; the test moves the clock between rounds.

    Each round past the refresh point costs exactly one exchange: none would be a
    refresh that never happens, more would be threads refreshing together.
    """
    request = FakeRequest(clock, ttl=100)  # due after 50 s, expired after 100 s
    tokens = _token.ClientSecretCredentials(
        URL, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None, request=request
    )
    seen: set[str] = set()

    def round_of_calls() -> None:
        start = threading.Barrier(8)

        def work() -> None:
            start.wait(10)
            for _ in range(20):
                seen.add(tokens.get().reveal())

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    round_of_calls()
    assert len(request.forms) == 1
    clock.advance(49)  # not yet due
    round_of_calls()
    assert len(request.forms) == 1
    for rounds in range(1, 4):
        clock.advance(60)  # due, still valid: one caller refreshes, the rest go on
        round_of_calls()
        assert len(request.forms) == 1 + rounds
    clock.advance(500)  # expired: everyone waits for the one refresh
    request.hold = threading.Event()
    threading.Timer(0.05, request.hold.set).start()  # let the threads pile up behind it
    round_of_calls()
    assert len(request.forms) == 5
    assert request.max_in_flight == 1
    assert seen == {f"tok-{number}" for number in range(1, 6)}


def test_invalidate_refreshes_once_for_many_callers() -> None:
    request = FakeRequest()
    tokens = _token.ClientSecretCredentials(
        URL, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None, request=request
    )
    rejected = tokens.get()
    fresh = [tokens.invalidate(rejected) for _ in range(5)]
    assert {token.reveal() for token in fresh} == {"tok-2"}
    assert len(request.forms) == 2


def test_a_call_gets_one_new_token_when_refused_then_none() -> None:
    """The refresh-once rule belongs to the credentials: per call, never a loop."""
    request = FakeRequest()
    tokens = _token.ClientSecretCredentials(
        URL, "cid", Secret(CANARY), None, timeout=5, ca_bundle=None, request=request
    )
    call = tokens.for_call()
    first = call.get()
    second = call.on_rejected(first)
    assert second is not None and second.reveal() == "tok-2"
    assert call.on_rejected(second) is None
    next_call = tokens.for_call()  # the next call may refresh once again
    third = next_call.on_rejected(next_call.get())
    assert third is not None and third.reveal() == "tok-3"
    assert len(request.forms) == 3
    fixed = _token.TokenCredentials(Secret("jwt")).for_call()
    assert fixed.on_rejected(fixed.get()) is None  # a pre-issued token cannot be refreshed


def test_the_exchange_goes_through_the_given_transport_with_the_form(clock: ManualClock) -> None:
    request = FakeRequest()
    request.script = [(200, token_body("given"))]
    token = _token.exchange(URL, "cid", Secret(CANARY), audience="aud", timeout=7,
                            ca_bundle="/roots.pem", request=request)  # fmt: skip
    assert token.access_token.reveal() == "given"
    assert request.forms == [{"grant_type": "client_credentials", "client_id": "cid",
                              "client_secret": CANARY, "audience": "aud"}]  # fmt: skip
    assert request.timeouts == [7]


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
