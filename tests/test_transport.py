"""The gRPC client against a scripted TableService on 127.0.0.1.

A real grpc server whose answers the test scripts (UNAVAILABLE, UNAUTHENTICATED,
INVALID_ARGUMENT with google.rpc details) shows retries, the refresh-once rule,
error mapping and the metadata on the wire, which the real server cannot be
made to produce on demand. Tokens come from a fake token endpoint over real HTTP
(``token_endpoint``): nothing in the client is patched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

import kaskada as kda
from kaskada import _token, _transport, table
from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
from tests.token_fakes import FakeTokenEndpoint

CANARY = "canary-jwt-Zq9x"


class Scripted(table_pb2_grpc.TableServiceServicer):  # type: ignore[misc]
    """Pops a status code per call from ``script`` (None = answer normally)."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self.calls: list[str] = []

    def _answer(self, name: str, context: grpc.ServicerContext) -> None:
        self.calls.append(name)
        self.metadata.append(dict(context.invocation_metadata()))
        step = self.script.pop(0) if self.script else None
        if step is None:
            return
        if isinstance(step, grpc.StatusCode):
            context.abort(step, f"scripted {step.name}")
        context.abort_with_status(step)

    def ListTables(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._answer("ListTables", context)
        tables = [] if request.page_token else [table_pb2.Table(table_name="a")]
        if request.page_token == "p2":
            tables = [table_pb2.Table(table_name="b")]
        return table_pb2.ListTablesResponse(
            tables=tables, next_page_token="" if request.page_token else "p2"
        )

    def CreateTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._answer("CreateTable", context)
        return table_pb2.CreateTableResponse(table=request.table)

    def GetTable(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._answer("GetTable", context)
        return table_pb2.GetTableResponse(table=table_pb2.Table(table_name=request.table_name))


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    servicer = Scripted()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    table_pb2_grpc.add_TableServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def jwt_session(endpoint: str, **extra: Any) -> kda.Session:
    return kda.session(jwt=CANARY, endpoint=endpoint, **extra)


def bad_request_status() -> Any:
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="table.time_column_name", description="must not be empty"
                )
            ]
        )
    )
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad table", details=[detail])
    )


def test_bearer_metadata_and_page_tokens(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    assert set(table.list_tables(session=jwt_session(endpoint))) == {"a", "b"}
    assert servicer.calls == ["ListTables", "ListTables"]
    assert servicer.metadata[0]["authorization"] == f"Bearer {CANARY}"


def test_reads_are_retried_on_unavailable(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    servicer.script = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    found = table.get_table("x", session=jwt_session(endpoint))
    assert found.table_name == "x"
    assert servicer.calls == ["GetTable"] * 3


def test_reads_give_up_after_bounded_attempts(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    servicer.script = [grpc.StatusCode.UNAVAILABLE] * 10
    with pytest.raises(UnavailableError) as caught:
        table.get_table("x", session=jwt_session(endpoint))
    assert len(servicer.calls) == _transport.READ_ATTEMPTS
    assert endpoint in str(caught.value)


def test_writes_are_never_retried(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    servicer.script = [grpc.StatusCode.UNAVAILABLE]
    with pytest.raises(UnavailableError):
        table.create_table("t", "time", "key", session=jwt_session(endpoint))
    assert servicer.calls == ["CreateTable"]


def test_unauthenticated_refreshes_once_and_retries_once(
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
    assert table.get_table("x", session=made).table_name == "x"
    assert [m["authorization"] for m in servicer.metadata] == ["Bearer tok-1", "Bearer tok-2"]
    servicer.script = [grpc.StatusCode.UNAUTHENTICATED] * 2
    with pytest.raises(ApiAuthenticationError) as caught:
        table.get_table("x", session=made)
    assert isinstance(caught.value, AuthenticationError)
    assert caught.value.code == "UNAUTHENTICATED"
    assert len(token_endpoint.forms) == 3  # one refresh per call, never a loop


def test_preissued_token_refused_says_so(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    servicer.script = [grpc.StatusCode.UNAUTHENTICATED]
    with pytest.raises(AuthenticationError, match="pre-issued token") as caught:
        table.get_table("x", session=jwt_session(endpoint))
    assert CANARY not in str(caught.value)
    assert servicer.calls == ["GetTable"]


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
    ],
)
def test_codes_map_to_classes(
    scripted: tuple[Scripted, str], code: grpc.StatusCode, error_type: type[Exception]
) -> None:
    servicer, endpoint = scripted
    servicer.script = [code]
    with pytest.raises(error_type) as caught:
        table.create_table("t", "time", "key", session=jwt_session(endpoint))
    assert getattr(caught.value, "code", None) == code.name
    assert f"scripted {code.name}" in str(caught.value)


def test_google_rpc_details_are_unpacked(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    servicer.script = [bad_request_status()]
    with pytest.raises(InvalidArgumentError) as caught:
        table.create_table("t", "", "key", session=jwt_session(endpoint))
    assert caught.value.details == ("bad request: table.time_column_name: must not be empty",)
    assert "table.time_column_name: must not be empty" in str(caught.value)


def test_channels_are_shared_per_endpoint_and_tls(scripted: tuple[Scripted, str]) -> None:
    _servicer, endpoint = scripted
    first = _transport.channel(endpoint, False, None)
    assert _transport.channel(endpoint, False, None) is first
    assert _transport.channel(endpoint, True, None) is not first


def test_missing_ca_bundle_names_the_file(scripted: tuple[Scripted, str], tmp_path: Any) -> None:
    _servicer, endpoint = scripted
    missing = tmp_path / "nope.pem"
    made = jwt_session(endpoint, is_secure=True, ca_bundle=str(missing))
    with pytest.raises(kda.ConfigError, match=r"nope\.pem"):
        table.get_table("x", session=made)


def test_debug_log_never_shows_the_token(
    scripted: tuple[Scripted, str], caplog: pytest.LogCaptureFixture
) -> None:
    _servicer, endpoint = scripted
    with caplog.at_level("DEBUG", logger="kaskada"):
        table.get_table("x", session=jwt_session(endpoint))
    assert "GetTable" in caplog.text
    assert CANARY not in caplog.text


# The fork tests fork a process that runs threads (grpc's, and a lock holder's) on
# purpose: kaskada's at-fork handlers make that safe, and these tests prove it (the
# child reports, or its alarm ends it). Python 3.12+ warns of such forks in general.
FORK_WHILE_THREADED = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning"
)


@FORK_WHILE_THREADED
@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_drops_inherited_channels(scripted: tuple[Scripted, str]) -> None:
    _servicer, endpoint = scripted
    table.get_table("x", session=jwt_session(endpoint))
    assert _transport._channels
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many channels it inherited, and leave at once
        os.write(write, str(len(_transport._channels)).encode())
        os._exit(0)
    os.close(write)
    reported = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert reported == b"0"
    assert _transport._channels  # the parent keeps its own


@FORK_WHILE_THREADED
@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_calls_on_its_own_channel_even_if_a_lock_was_held(
    scripted: tuple[Scripted, str], token_endpoint: FakeTokenEndpoint
) -> None:
    """A thread inside a token refresh at fork time must not leave the child deadlocked."""
    import threading

    servicer, endpoint = scripted
    made = kda.session(
        client_id="c", client_secret="s", endpoint=endpoint,
        exchange_endpoint=token_endpoint.url,
    )  # fmt: skip
    table.get_table("x", session=made)
    source = made.token_source()
    assert isinstance(source, _token.TokenSource)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with source._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call with the parent's session, then leave at once
        import signal

        signal.alarm(10)  # a deadlock kills the child, so the parent reads nothing and fails
        try:
            source._token = None  # force a refresh, which takes the lock
            answer = table.get_table("child", session=made).table_name
        except BaseException as error:
            answer = f"error {type(error).__name__}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    release.set()
    holder.join()
    reported = os.read(read, 200)
    os.close(read)
    os.waitpid(pid, 0)
    assert reported == b"child"
    assert "GetTable" in servicer.calls


def test_a_server_that_never_answers_ends_at_the_deadline() -> None:
    """A listening socket that never speaks: the call's deadline ends it (DEADLINE_EXCEEDED)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    endpoint = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        with pytest.raises(UnavailableError) as caught:
            table.list_tables(session=jwt_session(endpoint, timeout=0.5))
    finally:
        silent.close()
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert endpoint in str(caught.value)
    assert CANARY not in str(caught.value)


def test_standard_details_are_rendered_by_type() -> None:
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2

    from kaskada._grpc_errors import render_detail

    def packed(message: Any) -> Any:
        detail = any_pb2.Any()
        detail.Pack(message)
        return detail

    resource = render_detail(
        packed(error_details_pb2.ResourceInfo(resource_type="table", resource_name="t1"))
    )
    assert resource.startswith("ResourceInfo:") and '"t1"' in resource
    info = render_detail(packed(error_details_pb2.ErrorInfo(reason="QUOTA", domain="kaskada")))
    assert "ErrorInfo" in info and "QUOTA" in info
    unknown = any_pb2.Any(type_url="type.example.com/x.Unknown", value=b"\x08\x01")
    assert render_detail(unknown) == "detail of type type.example.com/x.Unknown"
