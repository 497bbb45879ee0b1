"""kaskada.aio: the table API as coroutines, against the sync client and real servers.

The scripted TableService (tests/scripted_api.py) gives both clients the same answers
(errors, retries, refreshes); the real local server shows accounts, sessions
per task, a slow token endpoint that must not stall the event loop, and one
sign-in per account however many tasks and threads ask at once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

import kaskada as kda
from kaskada import _reset, table
from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    ApiUnavailableError,
    AuthenticationError,
    KaskadaError,
    KeyringTimeoutError,
    NotFoundError,
    UnavailableError,
)
from kaskada.aio import table as atable
from kaskada.credentials import keyring as _keyring
from kaskada.credentials import token_cache as _token_cache
from kaskada.transport import aio as _aio_transport
from tests.helpers import Account
from tests.scripted_api import Scripted, bad_request_status, jwt_session
from tests.token_fakes import FakeTokenEndpoint

# A server whose token endpoint takes 300 ms per sign-in (patched before it starts).
SLOW_TOKEN_SERVER = """
import sys, time
from kaskada.server import store

original = store.Store.issue_token

def slow(self, *args, **kwargs):
    time.sleep(0.3)
    return original(self, *args, **kwargs)

store.Store.issue_token = slow
from kaskada.cli import main
sys.exit(main(sys.argv[1:]))
"""


def issued_tokens(server: Any, account: str) -> int:
    """Tokens the server issued to ``account`` (its database, read-only)."""
    connection = sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT count(*) FROM tokens JOIN clients USING (client_id) WHERE account = ?",
            (account,),
        ).fetchone()
    finally:
        connection.close()
    return int(row[0])


class Heartbeat:
    """Ticks on the loop (yielding between ticks) until stopped: ticks counted while
    a blocking step is in flight show the loop kept running; no clock is read."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = False

    async def run(self) -> None:
        while not self._stop:
            await asyncio.sleep(0.01)
            self.ticks += 1

    def stop(self) -> None:
        self._stop = True


def record_exchange_threads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each token exchange appends whether it ran on the main thread (the loop's)."""
    from kaskada.credentials import tokens as _token

    on_main: list[bool] = []
    original = _token.post_form

    def recorded(url: str, form: Any, *, timeout: float, ca_bundle: str | None) -> Any:
        on_main.append(threading.current_thread() is threading.main_thread())
        return original(url, form, timeout=timeout, ca_bundle=ca_bundle)

    monkeypatch.setattr(_token, "post_form", recorded)
    return on_main


async def with_heartbeat(work: Awaitable[Any]) -> tuple[Any, Heartbeat]:
    beat = Heartbeat()
    ticking = asyncio.create_task(beat.run())
    await asyncio.sleep(0)
    try:
        result = await work
    finally:
        beat.stop()
        await ticking
    return result, beat


# --- many tasks, two profiles, a slow token endpoint ------------------------------------


def test_hundred_tasks_two_profiles_slow_sign_in_never_stall_the_loop(
    start_server: Any, real_keyring: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(launcher=("-c", SLOW_TOKEN_SERVER))
    first, second = Account(server, "aio_a"), Account(server, "aio_b")
    table.create_table("only_a", "time", "key", session=first.session())
    first.save_profile("a")
    second.save_profile("b")
    expected = {"a": {first.marker, "only_a"}, "b": {second.marker}}
    _reset.reset_all()  # a fresh process as far as caches go: no token yet
    _token_cache.forget_all()  # and no token on disk either
    before = {name: issued_tokens(server, who.name) for name, who in (("a", first), ("b", second))}
    wrong: list[tuple[str, set[str]]] = []
    keyring_reads: list[tuple[str, bool]] = []  # (profile, on the loop's thread)
    original_read = _keyring.get_entry

    def recorded_read(name: str) -> Any:  # the real keyring read
        keyring_reads.append((name, threading.current_thread() is threading.main_thread()))
        return original_read(name)

    monkeypatch.setattr(_keyring, "get_entry", recorded_read)
    exchanges_on_main = record_exchange_threads(monkeypatch)

    async def worker(profile: str) -> int:
        async with kda.session(profile=profile) as entered:
            assert kda._session.current() is entered
            for _ in range(20):
                found = set(await atable.list_tables())
                if found != expected[profile]:
                    wrong.append((profile, found))
                await asyncio.sleep(0)
        return 20

    async def main() -> list[int]:
        return await asyncio.gather(*(worker("a" if i % 2 else "b") for i in range(100)))

    async def run() -> tuple[Any, Heartbeat]:
        return await with_heartbeat(main())

    done, beat = asyncio.run(run())
    assert sum(done) == 2000
    assert wrong == []
    after = {name: issued_tokens(server, who.name) for name, who in (("a", first), ("b", second))}
    assert {name: after[name] - before[name] for name in after} == {"a": 1, "b": 1}
    # Every keyring read ran off the loop's thread. (Two threads resolving the same profile at
    # one moment may each read it, so the count is not asserted; exchanges are, above.)
    assert set(keyring_reads) == {("a", False), ("b", False)}
    assert exchanges_on_main == [False, False]  # the two sign-ins ran off the loop, too
    assert beat.ticks > 0


def test_tasks_and_threads_asking_at_once_share_one_sign_in(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(launcher=("-c", SLOW_TOKEN_SERVER))
    who = Account(server, "mixed")
    _reset.reset_all()
    _token_cache.forget_all()  # no token on disk from the account's set-up either
    before = issued_tokens(server, who.name)
    exchanges_on_main = record_exchange_threads(monkeypatch)
    shared = who.session()
    results: list[set[str]] = []
    go = threading.Barrier(9)

    def in_thread() -> None:
        go.wait()
        results.append(set(table.list_tables(session=shared)))

    async def tasks() -> list[dict[str, Any]]:
        await asyncio.to_thread(go.wait)
        return await asyncio.gather(*(atable.list_tables(session=shared) for _ in range(30)))

    threads = [threading.Thread(target=in_thread) for _ in range(8)]
    for thread in threads:
        thread.start()
    answers, beat = asyncio.run(with_heartbeat(tasks()))
    for thread in threads:
        thread.join()
    assert [set(answer) for answer in answers] == [{who.marker}] * 30
    assert results == [{who.marker}] * 8
    assert issued_tokens(server, who.name) - before == 1
    assert exchanges_on_main == [False]  # the one sign-in ran off the loop's thread
    assert beat.ticks > 0


def test_async_with_is_per_task_nests_and_restores(local_server: Any) -> None:
    first, second = Account(local_server, "nest_a"), Account(local_server, "nest_b")

    async def inner(account: Account) -> set[str]:
        async with account.session():
            await asyncio.sleep(0)
            return set(await atable.list_tables())

    async def main() -> None:
        async with first.session() as outer:
            assert await asyncio.gather(inner(second), inner(first)) == [
                {second.marker},
                {first.marker},
            ]
            async with second.session():
                assert set(await atable.list_tables()) == {second.marker}
            assert kda._session.current() is outer
            assert set(await atable.list_tables()) == {first.marker}

    asyncio.run(main())


# --- keyring reads off the loop ----------------------------------------------------------


def test_aio_session_reads_a_hung_keyring_off_the_loop(
    local_server: Any, monkeypatch: pytest.MonkeyPatch, memory_keyring: Any
) -> None:
    """A keyring that never answers: the loop keeps ticking, and the timeout error comes."""
    import keyring

    from kaskada import aio
    from tests import keyring_blocking

    release = threading.Event()  # our own: keyring_blocking.RELEASE stays unset for others
    entered: list[bool] = []  # one per read: whether it ran on the main (loop's) thread

    class Hung(keyring_blocking.Keyring):
        def get_password(self, service: str, username: str) -> str | None:
            entered.append(threading.current_thread() is threading.main_thread())
            release.wait(keyring_blocking.HOURS)
            return None

    # The secret is written (to the in-memory keyring) before the swap to a hung one.
    Account(local_server, "hung").save_profile("hung")
    monkeypatch.setenv("KASKADA_KEYRING_TIMEOUT", "0.5")
    previous = keyring.get_keyring()
    keyring.set_keyring(Hung())
    _reset.reset_all()

    async def resolve() -> None:
        async with aio.session(profile="hung"):
            raise AssertionError("a hung keyring cannot give a secret")

    try:
        with pytest.raises(KeyringTimeoutError):
            asyncio.run(with_heartbeat(resolve()))
        entered.clear()
        ran_while_hung: list[bool] = []

        async def both() -> None:
            resolving = asyncio.ensure_future(aio.session(profile="hung").resolve())
            while not entered and not resolving.done():
                await asyncio.sleep(0.001)
            # The keyring read has begun and hangs: the loop still runs this task.
            ran_while_hung.append(bool(entered) and not resolving.done())
            await resolving

        with pytest.raises(KeyringTimeoutError):
            asyncio.run(both())
        assert ran_while_hung == [True]
        assert entered and not any(entered)  # every read ran off the loop's thread
    finally:
        release.set()
        keyring.set_keyring(previous)


# --- sync and async agree ----------------------------------------------------------------


async def _async_outcome(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return ("ok", await call())
    except KaskadaError as error:
        return ("error", type(error), getattr(error, "code", None), str(error))


def _sync_outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except KaskadaError as error:
        return ("error", type(error), getattr(error, "code", None), str(error))


SCRIPTS = [
    pytest.param([], id="answer"),
    pytest.param([grpc.StatusCode.NOT_FOUND], id="not-found"),
    pytest.param([grpc.StatusCode.ALREADY_EXISTS], id="already-exists"),
    pytest.param([grpc.StatusCode.UNAUTHENTICATED], id="unauthenticated"),
    pytest.param([grpc.StatusCode.UNAVAILABLE] * 2, id="unavailable-then-ok"),
    pytest.param([grpc.StatusCode.UNAVAILABLE] * 10, id="unavailable"),
    pytest.param([grpc.StatusCode.PERMISSION_DENIED], id="permission-denied"),
    pytest.param(["bad-request"], id="details"),
]
OPERATIONS = {
    "list": (lambda s: table.list_tables(session=s), lambda s: atable.list_tables(session=s)),
    "get": (lambda s: table.get_table("x", session=s), lambda s: atable.get_table("x", session=s)),
    "create": (
        lambda s: table.create_table("t", "time", "key", "sub", "g", session=s),
        lambda s: atable.create_table("t", "time", "key", "sub", "g", session=s),
    ),
}  # DeleteTable: against the real server below (the scripted one does not serve it)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("script", SCRIPTS)
def test_sync_and_async_agree_on_the_same_answers(
    scripted: tuple[Scripted, str], script: list[Any], operation: str
) -> None:
    """Same results, error types, codes, messages and number of attempts (retries)."""
    servicer, endpoint = scripted
    session = jwt_session(endpoint)
    sync_call, async_call = OPERATIONS[operation]

    def steps() -> list[Any]:
        return [bad_request_status() if step == "bad-request" else step for step in script]

    servicer.script, servicer.calls, servicer.metadata = steps(), [], []
    sync = _sync_outcome(lambda: sync_call(session))
    sync_calls, sync_metadata = servicer.calls, servicer.metadata
    servicer.script, servicer.calls, servicer.metadata = steps(), [], []
    aio = asyncio.run(_async_outcome(lambda: async_call(session)))
    assert aio == sync
    assert servicer.calls == sync_calls
    assert servicer.metadata[0]["authorization"] == sync_metadata[0]["authorization"]


def test_unauthenticated_refreshes_once_in_aio_too(
    scripted: tuple[Scripted, str], token_endpoint: FakeTokenEndpoint
) -> None:
    servicer, endpoint = scripted
    made = kda.session(
        client_id="c",
        client_secret="s",
        endpoint=endpoint,
        exchange_endpoint=token_endpoint.url,
    )
    servicer.script = [grpc.StatusCode.UNAUTHENTICATED]
    found = asyncio.run(atable.get_table("x", session=made))
    assert found.table_name == "x"
    assert [m["authorization"] for m in servicer.metadata] == ["Bearer tok-1", "Bearer tok-2"]
    servicer.script = [grpc.StatusCode.UNAUTHENTICATED] * 2
    with pytest.raises(ApiAuthenticationError):
        asyncio.run(atable.get_table("x", session=made))
    assert len(token_endpoint.forms) == 3  # one refresh per call, never a loop


def test_sync_and_async_agree_against_the_real_server(local_server: Any) -> None:
    who = Account(local_server, "parity")
    session = who.session()

    async def main() -> list[Any]:
        return [
            await _async_outcome(lambda: atable.create_table("p1", "t", "k", session=session)),
            await _async_outcome(lambda: atable.create_table("p1", "t", "k", session=session)),
            await _async_outcome(lambda: atable.get_table("p1", session=session)),
            await _async_outcome(lambda: atable.get_table("nope", session=session)),
            await _async_outcome(lambda: atable.list_tables(session=session)),
            await _async_outcome(lambda: atable.delete_table("p1", session=session)),
            await _async_outcome(lambda: atable.delete_table("p1", session=session)),
        ]

    aio = asyncio.run(main())
    sync = [
        _sync_outcome(lambda: table.create_table("p1", "t", "k", session=session)),
        _sync_outcome(lambda: table.create_table("p1", "t", "k", session=session)),
        _sync_outcome(lambda: table.get_table("p1", session=session)),
        _sync_outcome(lambda: table.get_table("nope", session=session)),
        _sync_outcome(lambda: table.list_tables(session=session)),
        _sync_outcome(lambda: table.delete_table("p1", session=session)),
        _sync_outcome(lambda: table.delete_table("p1", session=session)),
    ]
    assert [entry[0] for entry in aio] == ["ok", "error", "ok", "error", "ok", "ok", "error"]
    assert aio[1][1] is AlreadyExistsError and aio[3][1] is NotFoundError
    # created tables differ only in their ids and creation times
    assert aio[0][1].table_name == sync[0][1].table_name == "p1"
    assert aio[2][1].table_name == sync[2][1].table_name
    assert set(aio[4][1]) == set(sync[4][1]) == {who.marker, "p1"}
    for mine, theirs in zip(aio, sync, strict=True):
        if mine[0] == "error":
            assert mine == theirs

    bogus = kda.session(jwt="not-a-token", endpoint=local_server.endpoint)
    denied = asyncio.run(_async_outcome(lambda: atable.list_tables(session=bogus)))
    assert denied == _sync_outcome(lambda: table.list_tables(session=bogus))
    assert denied[1] is ApiAuthenticationError and issubclass(denied[1], AuthenticationError)

    closed = kda.session(jwt="x", endpoint="127.0.0.1:9", timeout=2)
    unreachable = asyncio.run(_async_outcome(lambda: atable.list_tables(session=closed)))
    reference = _sync_outcome(lambda: table.list_tables(session=closed))
    assert unreachable[:3] == reference[:3] == ("error", ApiUnavailableError, "UNAVAILABLE")
    assert issubclass(ApiUnavailableError, UnavailableError)


# --- channels belong to their loop -------------------------------------------------------


def test_channels_are_shared_per_loop_and_closed_with_it(local_server: Any) -> None:
    who = Account(local_server, "loops")
    session = who.session()
    seen: list[Any] = []

    async def main() -> None:
        await atable.list_tables(session=session)
        await atable.get_table(who.marker, session=session)
        loop = asyncio.get_running_loop()
        state = _aio_transport._loops[loop]
        assert len(state.channels) == 1  # one channel for both methods
        seen.append((loop, state, next(iter(state.channels.values()))[0]))

    asyncio.run(main())
    asyncio.run(main())
    (loop1, state1, channel1), (loop2, state2, channel2) = seen
    assert channel1 is not channel2 and state1 is not state2
    assert loop1 not in _aio_transport._loops and loop2 not in _aio_transport._loops
    assert state1.channels == {} and state2.channels == {}
    assert channel1.get_state() == grpc.ChannelConnectivity.SHUTDOWN


def test_import_kaskada_does_not_import_aio() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kaskada, kaskada.table; "
        "print(sorted(m for m in sys.modules if m.startswith('kaskada.aio') "
        "or m == 'kaskada.transport.aio'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_a_session_made_on_the_loop_reads_the_keyring_at_first_use(
    local_server: Any, real_keyring: str
) -> None:
    """Inside a running loop (a notebook cell runs on one) a session is checked at once
    (issue 22: a mistyped profile fails at the `with` line, as in a script); only the
    keyring read waits for first use: a missing secret is reported at `async with`,
    and a plain `with` or a sync call still works."""
    who = Account(local_server, "deferred")
    who.save_profile("deferred")
    from kaskada.config.lifecycle import add_profile

    add_profile("nosecret", {"client_id": "id-without-secret", "endpoint": local_server.endpoint,
                             "exchange_endpoint": local_server.token_url}, None)
    _reset.reset_all()

    async def main() -> None:
        with pytest.raises(kda.ProfileNotFoundError):
            kda.init(profile="nope")  # init() resolves at once
        with pytest.raises(kda.ProfileNotFoundError, match="nope"):
            kda.session(profile="nope")  # so does session(): no keyring read needed
        unread = kda.session(profile="nosecret")  # the keyring is not read on the loop
        with pytest.raises(kda.IncompleteCredentialsError, match="no secret in the keyring"):
            async with unread:
                raise AssertionError("not reached")
        assert kda._session._active.get() is None
        made = kda.session(profile="deferred")
        with made:
            assert set(table.list_tables()) == {who.marker}  # resolved synchronously
        assert made.profile == "deferred"
        assert set(await atable.list_tables(session=kda.session(profile="deferred"))) == {
            who.marker
        }

    asyncio.run(main())
