"""Issue 18, the server's findings: failed sign-ins never lock out a correct secret
(4), a flood from many addresses meets a global budget and a summarised log (5),
request heads over the documented 16 KiB are refused on both ports (9), and an
overloaded gRPC server answers RESOURCE_EXHAUSTED with a retry delay (2).

Each test runs a real ``kaskada serve`` on loopback; requests come from chosen
loopback source addresses (127.0.0.x), as from other machines.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from tests.server_fixtures import fetch_token

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(client_id: str, secret: str) -> str:
    return urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )


class Peer:
    """One kept-alive connection to the token endpoint from a given loopback address."""

    def __init__(self, token_url: str, source: str) -> None:
        parts = urllib.parse.urlsplit(token_url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(
            str(parts.hostname), parts.port, timeout=30, source_address=(source, 0)
        )

    def post(self, body: str, headers: dict[str, str] | None = None,
             ) -> tuple[int, dict[str, str], dict[str, Any]]:
        self.connection.request("POST", self.path, body=body, headers={**FORM, **(headers or {})})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()  # http.client reconnects at the next request
        return response.status, dict(response.getheaders()), answer

    def close(self) -> None:
        self.connection.close()


# -- finding 4: nobody can lock out a client id ---------------------------------------------


def test_wrong_secrets_for_a_client_id_from_elsewhere_never_lock_out_its_owner(
    start_server: Any,
) -> None:
    server = start_server()
    client_id, secret = server.add_client("victim")
    attacker, owner = Peer(server.token_url, "127.0.0.2"), Peer(server.token_url, "127.0.0.1")
    got = []
    for _ in range(9):  # 0.1 and 0.2 locked the id after 10 failures, whoever failed
        for _ in range(5):
            assert attacker.post(_form(client_id, "wrong-" + "x" * 40))[0] == 401
        status, _, answer = owner.post(_form(client_id, secret))
        got.append(status)
        assert "access_token" in answer or status != 200
    attacker.close()
    owner.close()
    assert got == [200] * 9


def test_a_peer_beyond_its_failure_limit_gets_429_and_its_correct_secret_still_works(
    start_server: Any,
) -> None:
    """The limit applies to failures only: the address that failed 120 times (another
    process of the same user, on the same loopback address) still signs in."""
    server = start_server()
    client_id, secret = server.add_client("shared-address")
    peer = Peer(server.token_url, "127.0.0.3")
    statuses = [peer.post(_form(client_id, "wrong-" + "y" * 40))[0] for _ in range(120)]
    assert statuses[:100] == [401] * 100
    assert statuses[100:] == [429] * 20
    status, headers, answer = peer.post(_form(client_id, "still-wrong"))
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "too many failed sign-ins from this address" in answer["error_description"]
    status, _, answer = peer.post(_form(client_id, secret))
    assert status == 200 and answer["access_token"]
    peer.close()


# -- finding 5: a flood from 100 addresses meets the global budget -----------------------


@pytest.mark.slow
def test_10000_bad_sign_ins_from_100_addresses_meet_the_global_budget(
    start_server: Any,
) -> None:
    server = start_server()
    client_id, secret = server.add_client("flooded")
    statuses: list[int] = []
    limited = threading.Event()
    lock = threading.Lock()

    def flood(n: int) -> None:
        peer = Peer(server.token_url, f"127.0.0.{n + 10}")
        mine = []
        for k in range(100):
            status = peer.post(_form(f"guess-{n}-{k}", "wrong-" + "z" * 40))[0]
            mine.append(status)
            if status == 429:
                limited.set()
        peer.close()
        with lock:
            statuses.extend(mine)

    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(flood, n) for n in range(100)]
        assert limited.wait(120), "no 429 while the flood ran"
        # mid-flood, with the budget spent, the rightful owner signs in at once
        owner = Peer(server.token_url, "127.0.0.1")
        status, _, answer = owner.post(_form(client_id, secret))
        assert status == 200 and answer["access_token"]
        owner.close()
        for future in running:
            future.result()
    assert len(statuses) == 10_000
    assert set(statuses) == {401, 429}
    assert statuses.count(429) >= 8_000, statuses.count(401)
    assert fetch_token(server, client_id, secret)
    server.stop()
    lines = server.log().splitlines()
    assert len(lines) < 1_000, len(lines)
    summaries = [line for line in lines if "beyond the rate limit" in line]
    assert summaries and "more in the last" in summaries[-1]


# -- finding 9: request heads are bounded as documented ----------------------------------


def test_request_heads_over_16_kib_are_refused_on_both_ports(start_server: Any) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server = start_server()
    client_id, secret = server.add_client("heads")
    peer = Peer(server.token_url, "127.0.0.1")
    status, _, answer = peer.post(_form(client_id, secret), {"X-Pad": "a" * 15_000})
    assert status == 200 and answer["access_token"]
    for size in (17_000, 20_000):
        status, _, answer = peer.post(_form(client_id, secret), {"X-Pad": "a" * size})
        assert status == 431, (size, status)
        assert "16384-byte limit" in answer["error_description"]
    peer.close()
    channel = grpc.insecure_channel(server.endpoint)
    stub = health_pb2_grpc.HealthStub(channel)
    stub.Check(health_pb2.HealthCheckRequest(), metadata=[("x-pad", "a" * 15_000)], timeout=10)
    for size in (17_000, 20_000):
        for _ in range(10):  # grpc's soft limit alone refused only some of these
            with pytest.raises(grpc.RpcError) as raised:
                stub.Check(health_pb2.HealthCheckRequest(), metadata=[("x-pad", "a" * size)],
                           timeout=10)
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()


# -- finding 2: overload is answered with a retry delay, after brief queueing -----------------

SLOW_LIST_LAUNCHER = (
    "-c",
    "import sys, time\n"
    "import kaskada.server.tables as tables\n"
    "served = tables.TableServicer.ListTables\n"
    "def slowly(self, request, context):\n"
    "    time.sleep(0.1)  # a server busy elsewhere: 16 workers drain 160 calls/s\n"
    "    return served(self, request, context)\n"
    "tables.TableServicer.ListTables = slowly\n"
    "import kaskada.cli; sys.exit(kaskada.cli.main(sys.argv[1:]))",
)


def _concurrent_list_tables(server: Any, calls: int) -> list[grpc.Future]:
    from kaskada.api.v1alpha import table_pb2
    from tests.server_fixtures import bearer, table_stub

    client_id, secret = server.add_client("busy")
    metadata = bearer(fetch_token(server, client_id, secret))
    stub = table_stub(server.endpoint)
    request = table_pb2.ListTablesRequest()
    stub.ListTables(request, metadata=metadata, timeout=30)  # connected before the burst
    futures = [stub.ListTables.future(request, metadata=metadata, timeout=120)
               for _ in range(calls)]
    for future in futures:
        future.exception()  # waits for it
    stub.channel.close()
    return futures


def test_1000_concurrent_calls_queue_briefly_instead_of_failing(start_server: Any) -> None:
    """Even when each call takes a while, so that they all wait at once."""
    server = start_server(launcher=SLOW_LIST_LAUNCHER)
    futures = _concurrent_list_tables(server, 1000)
    codes = [future.code() for future in futures]
    assert codes.count(grpc.StatusCode.OK) == 1000, {c: codes.count(c) for c in set(codes)}


def test_overload_is_resource_exhausted_with_a_retry_delay(start_server: Any) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    server = start_server(launcher=SLOW_LIST_LAUNCHER)
    futures = _concurrent_list_tables(server, 1600)
    busy = [future for future in futures if future.code() is not grpc.StatusCode.OK]
    assert len(futures) - len(busy) >= 1000  # the queue took its share
    assert busy, "1,600 calls at once never met the queue's limit"
    # About one run in twenty, a handful of the 1,600 streams end CANCELLED, from the
    # HTTP/2 transport under this many streams at once (no server code answers that
    # code; the cause is not found yet: see the closing note of 2026-12-06). They are
    # left out, bounded; every call the server answered must follow the contract.
    cancelled = [future for future in busy if future.code() is grpc.StatusCode.CANCELLED]
    assert len(cancelled) <= len(busy) // 20, f"{len(cancelled)} of {len(busy)} cancelled"
    busy = [future for future in busy if future not in cancelled]
    for future in busy:
        assert future.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the server is busy" in future.details()
        status = rpc_status.from_call(future)
        assert status is not None, "no google.rpc.Status in grpc-status-details-bin"
        retry = error_details_pb2.RetryInfo()
        assert [d.Unpack(retry) for d in status.details] == [True]
        delay = retry.retry_delay.ToTimedelta().total_seconds()
        assert 0.05 <= delay <= 2.0, delay
