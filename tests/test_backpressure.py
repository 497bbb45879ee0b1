"""Issue 18, finding 2 (client half): back-pressure is not an error for a well-behaved client.

A scripted TableService on loopback answers RESOURCE_EXHAUSTED as an overloaded
server does (with a google.rpc.RetryInfo delay, or grpcio's own concurrency
limit words without one): reads are retried after the delay asked for, writes
fail with one error naming the overload. Each channel bounds the calls this
process has in flight (KASKADA_MAX_IN_FLIGHT). Against a real ``kaskada serve``
with its default limits, 1,000 concurrent calls from one event loop, and from
64 threads, all succeed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from kaskada import _clock, table
from kaskada._errors import ApiError, ApiUnavailableError
from kaskada.aio import table as atable
from kaskada.transport.errors import GRPC_CONCURRENCY_LIMIT
from tests.helpers import Account, table_service
from tests.scripted_api import Scripted, jwt_session
from tests.token_fakes import ManualClock


def overloaded(delay: float | None = None, message: str = "server busy") -> Any:
    """A RESOURCE_EXHAUSTED status, with a RetryInfo detail asking for ``delay`` seconds."""
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    details = []
    if delay is not None:
        detail = any_pb2.Any()
        seconds = int(delay)
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
            seconds=seconds, nanos=int((delay - seconds) * 1e9))))
        details.append(detail)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=details)
    )


class Gated(Scripted):
    """Scripted, and every ListTables counts the calls in flight and may wait on a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.arrived = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.hold = 0.0  # seconds each ListTables stays in flight (to make calls overlap)

    def ListTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.lock:
            self.in_flight += 1
            self.arrived += 1
            self.most = max(self.most, self.in_flight)
        self.entered.set()
        try:
            self.gate.wait(10)
            time.sleep(self.hold)
            return super().ListTables(request, context)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def gated() -> Iterator[tuple[Gated, str]]:
    servicer = Gated()
    with table_service(servicer, workers=32) as endpoint:
        yield servicer, endpoint
        servicer.gate.set()


# -- reads ride out an overloaded server -------------------------------------------------


def test_a_read_waits_the_retry_info_delay_then_succeeds(gated: tuple[Gated, str]) -> None:
    servicer, endpoint = gated
    servicer.script = [overloaded(delay=7.5)]
    with _clock.use(ManualClock()) as clock:
        found = table.get_table("x", session=jwt_session(endpoint))
    assert found.table_name == "x"
    assert servicer.calls == ["GetTable", "GetTable"]
    assert len(clock.slept) == 1  # type: ignore[attr-defined]
    assert 7.5 <= clock.slept[0] <= 7.5 * 1.5  # type: ignore[attr-defined]


def test_overload_without_retry_info_is_retried_past_the_unavailable_budget(
    gated: tuple[Gated, str],
) -> None:
    """grpcio's own limit has no RetryInfo: still an overload, retried while the deadline
    allows (more than the READ_ATTEMPTS an outage gets), with the client's own backoff."""
    servicer, endpoint = gated
    servicer.script = [overloaded(message=GRPC_CONCURRENCY_LIMIT)] * 6
    with _clock.use(ManualClock()) as clock:
        found = table.get_table("x", session=jwt_session(endpoint))
    assert found.table_name == "x"
    assert len(servicer.calls) == 7
    assert all(0.05 <= pause <= 1.0 for pause in clock.slept)  # type: ignore[attr-defined]


def test_a_plain_resource_exhausted_read_is_retried_too(gated: tuple[Gated, str]) -> None:
    servicer, endpoint = gated
    servicer.script = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with _clock.use(ManualClock()):
        assert table.get_table("x", session=jwt_session(endpoint)).table_name == "x"
    assert servicer.calls == ["GetTable", "GetTable"]


def test_a_delay_past_the_deadline_fails_at_once_naming_the_overload(
    gated: tuple[Gated, str],
) -> None:
    servicer, endpoint = gated
    servicer.script = [overloaded(delay=3600)]
    with _clock.use(ManualClock()) as clock, pytest.raises(ApiUnavailableError) as caught:
        table.get_table("x", session=jwt_session(endpoint, timeout=5))
    assert servicer.calls == ["GetTable"] and clock.slept == []  # type: ignore[attr-defined]
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert "overloaded" in str(caught.value) and endpoint in str(caught.value)
    assert "ran out" in str(caught.value)


def test_aio_reads_wait_the_retry_info_delay_then_succeed(gated: tuple[Gated, str]) -> None:
    servicer, endpoint = gated
    servicer.script = [overloaded(delay=0.01), grpc.StatusCode.RESOURCE_EXHAUSTED]
    found = asyncio.run(atable.get_table("x", session=jwt_session(endpoint)))
    assert found.table_name == "x"
    assert servicer.calls == ["GetTable"] * 3


# -- writes are not retried, and say why ------------------------------------------------


def test_an_overloaded_write_fails_once_naming_the_overload(gated: tuple[Gated, str]) -> None:
    servicer, endpoint = gated
    servicer.script = [overloaded(delay=0.01)]
    with pytest.raises(ApiUnavailableError) as caught:
        table.create_table("t", "time", "key", session=jwt_session(endpoint))
    assert servicer.calls == ["CreateTable"]
    text = str(caught.value)
    assert "overloaded" in text and "never retried" in text and "KASKADA_MAX_IN_FLIGHT" in text
    servicer.script = [overloaded(message=GRPC_CONCURRENCY_LIMIT), overloaded(delay=0.01)]
    for _ in range(2):
        with pytest.raises(ApiUnavailableError, match="never retried"):
            asyncio.run(atable.create_table("t", "time", "key", session=jwt_session(endpoint)))
    assert servicer.calls == ["CreateTable"] * 3


def test_a_quota_refusal_is_not_called_an_overload(gated: tuple[Gated, str]) -> None:
    servicer, endpoint = gated
    servicer.script = [overloaded(message="the account has 10000 tables")]
    with pytest.raises(ApiError) as caught:
        table.create_table("t", "time", "key", session=jwt_session(endpoint))
    assert not isinstance(caught.value, ApiUnavailableError)
    assert "overloaded" not in str(caught.value)


# -- the client bounds its own calls in flight -----------------------------------------


def test_sync_calls_beyond_the_bound_wait_for_a_slot(
    gated: tuple[Gated, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one slot taken by a call the server holds, a second call never reaches the
    server: it waits for the slot and, when its deadline passes, says so."""
    monkeypatch.setenv("KASKADA_MAX_IN_FLIGHT", "1")
    servicer, endpoint = gated
    servicer.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(table.list_tables, session=jwt_session(endpoint))
        assert servicer.entered.wait(10)
        with pytest.raises(ApiUnavailableError, match="KASKADA_MAX_IN_FLIGHT") as caught:
            table.get_table("x", session=jwt_session(endpoint, timeout=0.3))
        # the second call never left the process: no GetTable, only the held ListTables
        assert servicer.calls == [] and servicer.arrived == 1
        assert "call slots" in str(caught.value)
        servicer.gate.set()
        assert set(held.result(10)) == {"a", "b"}


def test_aio_calls_beyond_the_bound_wait_for_a_slot(
    gated: tuple[Gated, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASKADA_MAX_IN_FLIGHT", "1")
    servicer, endpoint = gated
    servicer.gate.clear()

    async def main() -> None:
        held = asyncio.create_task(atable.list_tables(session=jwt_session(endpoint)))
        await asyncio.to_thread(servicer.entered.wait, 10)
        with pytest.raises(ApiUnavailableError, match="KASKADA_MAX_IN_FLIGHT"):
            await atable.get_table("x", session=jwt_session(endpoint, timeout=0.3))
        assert servicer.calls == [] and servicer.arrived == 1
        servicer.gate.set()
        assert set(await held) == {"a", "b"}

    asyncio.run(main())


def test_a_gather_of_many_calls_never_exceeds_the_bound(
    gated: tuple[Gated, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASKADA_MAX_IN_FLIGHT", "3")
    servicer, endpoint = gated
    servicer.hold = 0.02  # calls overlap: without the bound, far more than 3 are in at once
    session = jwt_session(endpoint)

    async def main() -> list[Any]:
        return await asyncio.gather(*(atable.list_tables(session=session) for _ in range(60)))

    assert len(asyncio.run(main())) == 60
    assert servicer.most == 3
    servicer.most = 0
    with ThreadPoolExecutor(16) as pool:
        assert len(list(pool.map(lambda _: table.list_tables(session=session), range(60)))) == 60
    assert servicer.most == 3


def test_a_bad_bound_is_one_clear_error(
    gated: tuple[Gated, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASKADA_MAX_IN_FLIGHT", "lots")
    _servicer, endpoint = gated
    with pytest.raises(ValueError, match=r"KASKADA_MAX_IN_FLIGHT='lots'.*default"):
        table.get_table("x", session=jwt_session(endpoint))


# -- a thousand concurrent calls against the real server -------------------------------

CALLS = 1000


def test_a_thousand_concurrent_aio_calls_all_succeed(local_server: Any) -> None:
    """The issue's reproduction: asyncio.gather of 1,000 list_tables against ``kaskada
    serve`` with its default limits (256 concurrent calls) once failed 147-537 of them."""
    account = Account(local_server, "gather")
    session = account.session()

    async def main() -> list[Any]:
        calls = (atable.list_tables(session=session) for _ in range(CALLS))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    assert len(results) == CALLS
    assert all(account.marker in result for result in results)


def test_a_thousand_calls_from_64_threads_all_succeed(local_server: Any) -> None:
    account = Account(local_server, "threads")
    session = account.session()

    def one(_: int) -> Any:
        try:
            return table.list_tables(session=session)
        except Exception as error:  # counted, not raised: the test reports them all
            return error

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(CALLS)))
    assert [result for result in results if isinstance(result, Exception)] == []
    assert len(results) == CALLS
    assert all(account.marker in result for result in results)
