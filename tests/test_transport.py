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
from typing import Any

import grpc
import pytest

import kaskada as kda
from kaskada import table
from kaskada._errors import (
    AlreadyExistsError,
    ApiAuthenticationError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from kaskada.transport import sync as _transport
from tests.scripted_api import CANARY, Scripted, bad_request_status, jwt_session
from tests.token_fakes import FakeTokenEndpoint


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
    assert _transport.POOL.keys()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many channels it inherited, and leave at once
        os.write(write, str(len(_transport.POOL.keys())).encode())
        os._exit(0)
    os.close(write)
    reported = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert reported == b"0"
    assert _transport.POOL.keys()  # the parent keeps its own


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_calls_on_its_own_channel_even_if_a_lock_was_held(
    scripted: tuple[Scripted, str], token_endpoint: FakeTokenEndpoint
) -> None:
    """A thread inside a token refresh at fork time must not leave the child deadlocked.

    The fork happens in a fresh interpreter: what this checks is kaskada's own fork
    handling, not whatever grpc threads earlier tests left in the pytest process
    (with grpcio 1.63, CI's lowest-versions run, those made the child hang in a
    full run only)."""
    import subprocess
    import textwrap

    servicer, endpoint = scripted
    script = textwrap.dedent(
        """
        import os, signal, sys, threading
        import kaskada as kda
        from kaskada import table

        made = kda.session(client_id="c", client_secret="s", endpoint=sys.argv[1],
                           exchange_endpoint=sys.argv[2])
        table.get_table("x", session=made)
        source = made.credentials
        held, release = threading.Event(), threading.Event()

        def hold():
            with source._lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one call with the parent's session, then leave at once
            signal.alarm(10)  # a deadlock kills the child, so the parent reads nothing
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
        os.waitpid(pid, 0)
        print(reported.decode())
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script, endpoint,
         token_endpoint.url],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.stdout.strip() == "child", (done.stdout, done.stderr)
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

    from kaskada.transport.errors import render_detail

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


# --- the public seams: channel options, interceptors, user agent, token transport ---


class _Stamp(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds one metadata pair to every call and records the method, as tracing would."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.methods.append(details.method)
        metadata = [*(details.metadata or ()), ("x-trace", "t-1")]
        return continuation(details._replace(metadata=metadata), request)


def test_every_call_carries_the_kaskada_user_agent(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    table.get_table("x", session=jwt_session(endpoint))
    assert servicer.metadata[-1]["user-agent"].startswith(f"kaskada-python/{kda.__version__}")


def test_channel_options_reach_the_channel_and_keep_the_user_agent(
    scripted: tuple[Scripted, str],
) -> None:
    servicer, endpoint = scripted
    made = jwt_session(endpoint, channel_options=[("grpc.primary_user_agent", "my-app/2")])
    table.get_table("x", session=made)
    agent = servicer.metadata[-1]["user-agent"]
    assert agent.startswith(f"my-app/2 kaskada-python/{kda.__version__}")
    assert made.channel() is not jwt_session(endpoint).channel()  # its own channel


def test_a_bad_channel_option_is_one_clear_error() -> None:
    with pytest.raises(kda.ConfigError, match="channel_options"):
        kda.session(jwt=CANARY, endpoint="127.0.0.1:1", channel_options=["oops"])  # type: ignore[list-item]


def test_interceptors_see_and_shape_every_call(scripted: tuple[Scripted, str]) -> None:
    servicer, endpoint = scripted
    stamp = _Stamp()
    made = jwt_session(endpoint, interceptors=[stamp])
    table.get_table("x", session=made)
    assert stamp.methods == ["/kaskada.api.v1alpha.TableService/GetTable"]
    assert servicer.metadata[-1]["x-trace"] == "t-1"
    assert servicer.metadata[-1]["authorization"] == f"Bearer {CANARY}"


def test_aio_interceptors_see_every_call(scripted: tuple[Scripted, str]) -> None:
    import asyncio

    import grpc.aio

    from kaskada.aio import table as aio_table

    servicer, endpoint = scripted
    seen: list[str] = []

    class Record(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        async def intercept_unary_unary(
            self, continuation: Any, details: Any, request: Any
        ) -> Any:
            method = details.method
            seen.append(method.decode() if isinstance(method, bytes) else method)
            return await continuation(details, request)

    async def run() -> None:
        made = jwt_session(endpoint, interceptors=[Record()])
        await aio_table.get_table("x", session=made)

    asyncio.run(run())
    assert seen == ["/kaskada.api.v1alpha.TableService/GetTable"]
    assert servicer.metadata[-1]["user-agent"].startswith("kaskada-python/")


def test_the_token_exchange_uses_the_transport_given_to_the_session(
    scripted: tuple[Scripted, str],
) -> None:
    from tests.token_fakes import FakeRequest

    servicer, endpoint = scripted
    request = FakeRequest()
    made = kda.session(
        client_id="cid", client_secret="s3cr3t", endpoint=endpoint,
        exchange_endpoint="http://127.0.0.1:9/oauth/token", token_request=request,
    )  # fmt: skip
    table.get_table("x", session=made)
    assert [form["client_id"] for form in request.forms] == ["cid"]
    assert servicer.metadata[-1]["authorization"] == "Bearer tok-1"
