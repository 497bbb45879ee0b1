"""Fakes for the token side: a clock moved by hand, a scripted HTTP transport, and a
real HTTP token endpoint on 127.0.0.1.

- ``ManualClock``: the ``_clock.Clock`` tests install with ``_clock.use(clock)``;
  time moves only by ``advance()`` (or a backoff ``sleep()``), so refresh and
  expiry are decided by the test, never by how busy the machine is.
- ``FakeRequest``: the ``request=`` transport of ``_token``; scripted answers,
  every form and timeout it was given, how many were in flight at once.
- ``FakeTokenEndpoint``: an OAuth2 token endpoint over real HTTP (stdlib), for
  tests of the urllib transport and of sessions that exchange on the wire.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kaskada import _clock
from kaskada.credentials import tokens as _token

WALL_START = 1_800_000_000.0  # 2027-01-15: far from the real time, so a leak shows


class ManualClock:
    """A clock that stands still until ``advance()``; ``sleep()`` advances it."""

    def __init__(self, wall: float = WALL_START) -> None:
        self._lock = threading.Lock()
        self._monotonic = 1000.0
        self._wall = wall
        self.slept: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def time(self) -> float:
        with self._lock:
            return self._wall

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._monotonic += seconds
            self._wall += seconds


def token_body(value: str, ttl: float = 3600) -> bytes:
    return json.dumps({"access_token": value, "token_type": "Bearer", "expires_in": ttl}).encode()


class FakeRequest:
    """A ``_token.Request`` answering from ``script``, else a fresh ``tok-N``.

    A script step is ``(status, body)``, an exception to raise, or ``"timeout"``:
    the clock moves by the timeout it was given and TransientError("timed out")
    is raised, as the urllib transport does when the server does not answer.
    ``hold`` (a real Event) keeps an exchange in flight until set, so threads
    that pile up meanwhile show whether they wait for it or start their own.
    """

    def __init__(self, clock: ManualClock | None = None, ttl: float = 3600) -> None:
        self.clock = clock
        self.ttl = ttl
        self.script: list[Any] = []
        self.forms: list[dict[str, str]] = []
        self.timeouts: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: threading.Event | None = None
        self._lock = threading.Lock()

    def __call__(
        self, url: str, form: Mapping[str, str], *, timeout: float, ca_bundle: str | None
    ) -> tuple[int, bytes]:
        with self._lock:
            self.forms.append(dict(form))
            self.timeouts.append(timeout)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            number = len(self.forms)
            step = self.script.pop(0) if self.script else None
        try:
            if self.hold is not None:
                self.hold.wait(10)
            if step is None:
                return 200, token_body(f"tok-{number}", self.ttl)
            if step == "timeout":
                if self.clock is not None:
                    self.clock.advance(timeout)
                raise _token.TransientError("timed out")
            if isinstance(step, BaseException):
                raise step
            status, body = step
            return int(status), bytes(body)
        finally:
            with self._lock:
                self.in_flight -= 1


class FakeTokenEndpoint:
    """Answers over real HTTP from a script of (status, body); records every form.

    ``hold`` (an Event): each answer waits until it is set, so a client timeout
    fires for certain, with no race between two sleeps.
    """

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.content_types: list[str] = []
        self.script: list[tuple[int, bytes]] = []
        self.hold: threading.Event | None = None
        self.lock = threading.Lock()
        self.ttl = 3600
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                with endpoint.lock:
                    endpoint.forms.append(urllib.parse.parse_qs(body))
                    endpoint.content_types.append(self.headers.get("Content-Type", ""))
                    status, payload = (
                        endpoint.script.pop(0) if endpoint.script else endpoint.answer()
                    )
                if endpoint.hold is not None:
                    endpoint.hold.wait(30)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self) -> tuple[int, bytes]:
        return 200, token_body(f"tok-{len(self.forms)}", self.ttl)

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_endpoint() -> Iterator[FakeTokenEndpoint]:
    """A FakeTokenEndpoint for one test (conftest loads this module as a plugin)."""
    fake = FakeTokenEndpoint()
    yield fake
    fake.close()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """A ManualClock installed as kaskada's clock for one test."""
    manual = ManualClock()
    with _clock.use(manual):
        yield manual
