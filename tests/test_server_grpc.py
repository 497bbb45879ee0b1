"""TableService on a real ``kaskada serve`` over loopback: auth, tenancy, tables, paging."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kaskada.api.v1alpha import table_pb2
from kaskada.server import auth
from kaskada.server.store import Store
from tests.server_fixtures import TEST_SCRYPT_N, bearer, fetch_token, table_stub


@pytest.fixture
def stub(local_server: Any) -> Any:
    stub = table_stub(local_server.endpoint)
    yield stub
    stub.channel.close()


def new_account(local_server: Any, name: str) -> str:
    """A token for a fresh client of a fresh account (unique per test)."""
    account = f"{name}-{time.monotonic_ns()}"
    client_id, secret = local_server.add_client(account)
    return fetch_token(local_server, client_id, secret)


def table(name: str, **fields: Any) -> table_pb2.Table:
    values = {"time_column_name": "time", "entity_key_column_name": "key", **fields}
    return table_pb2.Table(table_name=name, **values)


def refused(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def list_all(stub: Any, token: str, **request: Any) -> list[str]:
    names: list[str] = []
    page_token = ""
    for _ in range(10000):
        response = stub.ListTables(
            table_pb2.ListTablesRequest(page_token=page_token, **request), metadata=bearer(token)
        )
        names += [t.table_name for t in response.tables]
        page_token = response.next_page_token
        if not page_token:
            return names
    raise AssertionError("pagination never ended")


# -- authentication -------------------------------------------------------------


def test_every_authentication_failure_has_its_own_message(local_server: Any, stub: Any) -> None:
    client_id, secret = local_server.add_client("auth-failures")
    store = Store(local_server.db, scrypt_n=TEST_SCRYPT_N)
    try:
        expired = store.issue_token(client_id, -1).reveal()
    finally:
        store.close()
    request = table_pb2.ListTablesRequest()
    cases = {
        auth.MISSING: [],
        auth.CLIENT_ID_ONLY: [("client-id", client_id)],
        auth.MALFORMED: [("authorization", "Bearer")],
        auth.UNKNOWN: bearer("A" * 43),
        auth.EXPIRED: bearer(expired),
        auth.REVOKED: [],  # checked below, after revoking the client
    }
    revoked_id, revoked_secret = local_server.add_client("auth-failures")
    cases[auth.REVOKED] = bearer(fetch_token(local_server, revoked_id, revoked_secret))
    local_server.revoke_client(revoked_id)
    for message, metadata in cases.items():
        error = refused(stub.ListTables, request, metadata=metadata)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details() == message
    for bad in ("Basic " + "A" * 43, "Bearer two words here", "Bearer " + "a%b$" * 10, "short"):
        error = refused(stub.ListTables, request, metadata=[("authorization", bad)])
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, auth.MALFORMED)
    assert len(set(cases)) == len(cases)  # all distinct
    assert secret not in "".join(cases) and revoked_secret not in "".join(cases)


def test_raw_token_without_bearer_is_accepted(local_server: Any, stub: Any) -> None:
    token = new_account(local_server, "raw")
    lower = [("authorization", f"bearer {token}")]
    for metadata in ([("authorization", token)], bearer(token), lower):
        response = stub.ListTables(table_pb2.ListTablesRequest(), metadata=metadata)
        assert list(response.tables) == []


def test_client_id_alongside_a_token_does_not_change_the_account(
    local_server: Any, stub: Any
) -> None:
    token_a = new_account(local_server, "a")
    other_id, _ = local_server.add_client("someone-else")
    stub.CreateTable(table_pb2.CreateTableRequest(table=table("mine")), metadata=bearer(token_a))
    metadata = [*bearer(token_a), ("client-id", other_id)]
    assert [t.table_name for t in stub.ListTables(table_pb2.ListTablesRequest(),
                                                     metadata=metadata).tables] == ["mine"]


def test_revoked_clients_live_token_stops_at_once(local_server: Any, stub: Any) -> None:
    client_id, secret = local_server.add_client(f"revoke-{time.monotonic_ns()}")
    token = fetch_token(local_server, client_id, secret)
    stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token))  # warm the cache
    local_server.revoke_client(client_id)
    error = refused(stub.ListTables, table_pb2.ListTablesRequest(), metadata=bearer(token))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, auth.REVOKED)


def test_revocation_from_the_cli_in_another_process(local_server: Any, stub: Any) -> None:
    client_id, secret = local_server.add_client(f"revoke-cli-{time.monotonic_ns()}")
    token = fetch_token(local_server, client_id, secret)
    for _ in range(3):
        stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token))
    result = subprocess.run(
        [sys.executable, "-m", "kaskada", "server", "revoke-client", client_id,
         "--db", str(local_server.db)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    error = refused(stub.ListTables, table_pb2.ListTablesRequest(), metadata=bearer(token))
    assert error.details() == auth.REVOKED


def test_health_and_reflection_need_no_token(local_server: Any) -> None:
    from google.protobuf import descriptor_pb2
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(local_server.endpoint) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "kaskada.api.v1alpha.TableService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = list(reflection.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in responses[0].list_services_response.service}
        assert names >= {"kaskada.api.v1alpha.TableService", "grpc.health.v1.Health"}
        # What `grpcurl describe` asks: the file defining a symbol, with its dependencies.
        request = reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="kaskada.api.v1alpha.TableService"
        )
        (answer,) = reflection.ServerReflectionInfo(iter([request]), timeout=10)
        files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
                 for raw in answer.file_descriptor_response.file_descriptor_proto]
        defining = next(f for f in files if f.package == "kaskada.api.v1alpha")
        assert [s.name for s in defining.service] == ["TableService"]
        assert {m.name for m in defining.service[0].method} == {
            "ListTables", "GetTable", "CreateTable", "DeleteTable"}



def test_reflection_answers_v1_as_well_as_v1alpha(local_server: Any) -> None:
    """grpcurl and Postman ask ``grpc.reflection.v1`` first; UNIMPLEMENTED there
    used to end their session. v1's messages are v1alpha's on the wire."""
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    with grpc.insecure_channel(local_server.endpoint) as channel:
        ask_v1 = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        listed, described = ask_v1(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="kaskada.api.v1alpha.TableService"),
        ]), timeout=10)
    names = {s.name for s in listed.list_services_response.service}
    assert names >= {"kaskada.api.v1alpha.TableService", "grpc.health.v1.Health",
                     "grpc.reflection.v1.ServerReflection",
                     "grpc.reflection.v1alpha.ServerReflection"}
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in described.file_descriptor_response.file_descriptor_proto]
    assert any(f.package == "kaskada.api.v1alpha" and f.service for f in files)

# -- tenancy ----------------------------------------------------------------------


def test_accounts_never_see_each_others_tables(local_server: Any, stub: Any) -> None:
    token_a = new_account(local_server, "tenant-a")
    token_b = new_account(local_server, "tenant-b")
    stub.CreateTable(table_pb2.CreateTableRequest(table=table("shared_name", grouping_id="a")),
                     metadata=bearer(token_a))
    stub.CreateTable(table_pb2.CreateTableRequest(table=table("b_secret_plans")),
                     metadata=bearer(token_b))
    # B may use the same name as A.
    stub.CreateTable(table_pb2.CreateTableRequest(table=table("shared_name", grouping_id="b")),
                     metadata=bearer(token_b))
    assert list_all(stub, token_a) == ["shared_name"]
    assert list_all(stub, token_a, search="secret") == []
    assert sorted(list_all(stub, token_b)) == ["b_secret_plans", "shared_name"]
    # A guesses B's names: not found, exactly like a name nobody has.
    for call, request in (
        (stub.GetTable, table_pb2.GetTableRequest(table_name="b_secret_plans")),
        (stub.DeleteTable, table_pb2.DeleteTableRequest(table_name="b_secret_plans")),
    ):
        error = refused(call, request, metadata=bearer(token_a))
        assert error.code() == grpc.StatusCode.NOT_FOUND
        details = str(error.details())
        assert "b_secret_plans" in details and "tenant-b" not in details
    got = stub.GetTable(table_pb2.GetTableRequest(table_name="shared_name"),
                        metadata=bearer(token_a)).table
    assert got.grouping_id == "a"
    stub.DeleteTable(table_pb2.DeleteTableRequest(table_name="shared_name"),
                     metadata=bearer(token_a))
    still = stub.GetTable(table_pb2.GetTableRequest(table_name="shared_name"),
                          metadata=bearer(token_b)).table
    assert still.grouping_id == "b"
    assert list_all(stub, token_b, search="secret") == ["b_secret_plans"]


# -- tables -------------------------------------------------------------------------


def test_create_fills_output_fields_and_get_returns_the_same(local_server: Any, stub: Any) -> None:
    token = new_account(local_server, "fields")
    request = table("purchases", grouping_id="users")
    request.subsort_column_name.value = "seq"
    request.table_id = "client-chosen-id-ignored"
    created = stub.CreateTable(table_pb2.CreateTableRequest(table=request),
                               metadata=bearer(token)).table
    assert created.table_id and created.table_id != "client-chosen-id-ignored"
    assert created.version >= 1
    assert created.create_time.seconds > 0 and created.update_time == created.create_time
    assert created.subsort_column_name.value == "seq" and created.grouping_id == "users"
    got = stub.GetTable(table_pb2.GetTableRequest(table_name="purchases"), metadata=bearer(token))
    assert got.table == created
    plain = stub.CreateTable(table_pb2.CreateTableRequest(table=table("plain")),
                             metadata=bearer(token)).table
    assert not plain.HasField("subsort_column_name")


def test_create_validates_and_reports_bad_request_details(local_server: Any, stub: Any) -> None:
    token = new_account(local_server, "validation")
    bad = table_pb2.Table(table_name="9lives", time_column_name="", entity_key_column_name=" k")
    error = refused(stub.CreateTable, table_pb2.CreateTableRequest(table=bad),
                    metadata=bearer(token))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None and len(status.details) == 1
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    fields = {v.field: v.description for v in bad_request.field_violations}
    assert set(fields) == {"table.table_name", "table.time_column_name",
                           "table.entity_key_column_name"}
    assert "required" in fields["table.time_column_name"]
    missing = refused(stub.CreateTable, table_pb2.CreateTableRequest(), metadata=bearer(token))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list_all(stub, token) == []


def test_duplicate_and_unknown_names(local_server: Any, stub: Any) -> None:
    token = new_account(local_server, "dup")
    stub.CreateTable(table_pb2.CreateTableRequest(table=table("events")), metadata=bearer(token))
    error = refused(stub.CreateTable, table_pb2.CreateTableRequest(table=table("events")),
                    metadata=bearer(token))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and "'events'" in str(error.details())
    stub.DeleteTable(table_pb2.DeleteTableRequest(table_name="events"), metadata=bearer(token))
    for call, request in (
        (stub.GetTable, table_pb2.GetTableRequest(table_name="events")),
        (stub.DeleteTable, table_pb2.DeleteTableRequest(table_name="events")),
    ):
        error = refused(call, request, metadata=bearer(token))
        assert error.code() == grpc.StatusCode.NOT_FOUND and "'events'" in str(error.details())


def test_pagination_over_2500_tables_returns_each_once(local_server: Any, stub: Any) -> None:
    account = f"paging-{time.monotonic_ns()}"
    client_id, secret = local_server.add_client(account)
    token = fetch_token(local_server, client_id, secret)
    expected = {f"t{i:05d}" for i in range(2500)} | {f"x_match_{i}" for i in range(30)}
    store = Store(local_server.db, scrypt_n=TEST_SCRYPT_N)
    try:
        for name in expected:
            store.create_table(account, table_name=name, time_column_name="t",
                               entity_key_column_name="k", subsort_column_name=None,
                               grouping_id="")
    finally:
        store.close()
    for page_size in (0, 7, 1000, 5000):
        names = list_all(stub, token, page_size=page_size)
        assert len(names) == len(expected) and set(names) == expected
    first = stub.ListTables(table_pb2.ListTablesRequest(page_size=5000), metadata=bearer(token))
    assert len(first.tables) == 1000  # capped
    default = stub.ListTables(table_pb2.ListTablesRequest(), metadata=bearer(token))
    assert 0 < len(default.tables) < len(expected) and default.next_page_token
    matching = list_all(stub, token, search="match", page_size=4)
    assert sorted(matching) == sorted(n for n in expected if "match" in n)
    last = stub.ListTables(table_pb2.ListTablesRequest(search="x_match_", page_size=30),
                           metadata=bearer(token))
    assert len(last.tables) == 30 and last.next_page_token == ""


def test_bad_page_requests_are_invalid_arguments(local_server: Any, stub: Any) -> None:
    token = new_account(local_server, "bad-pages")
    for request in (
        table_pb2.ListTablesRequest(page_size=-1),
        table_pb2.ListTablesRequest(page_token="not-a-token"),
    ):
        error = refused(stub.ListTables, request, metadata=bearer(token))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_eight_threads_requesting_tokens_and_calling_at_once(local_server: Any) -> None:
    account = f"threads-{time.monotonic_ns()}"
    clients = [local_server.add_client(account) for _ in range(8)]
    barrier = threading.Barrier(8, timeout=30)
    errors: list[BaseException] = []
    stub = table_stub(local_server.endpoint)

    def work(index: int) -> None:
        try:
            barrier.wait()
            for round_ in range(5):
                token = fetch_token(local_server, *clients[index])
                name = f"thread_{index}_{round_}"
                stub.CreateTable(table_pb2.CreateTableRequest(table=table(name)),
                                 metadata=bearer(token), timeout=30)
                got = stub.GetTable(table_pb2.GetTableRequest(table_name=name),
                                    metadata=bearer(token), timeout=30)
                assert got.table.table_name == name
                stub.ListTables(table_pb2.ListTablesRequest(page_size=3),
                                metadata=bearer(token), timeout=30)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors
        token = fetch_token(local_server, *clients[0])
        names = list_all(stub, token)
        assert sorted(names) == sorted(f"thread_{i}_{r}" for i in range(8) for r in range(5))
    finally:
        stub.channel.close()
