"""A scripted TableService on 127.0.0.1 (a pytest plugin: the ``scripted`` fixture).

A real grpc server whose answers a test scripts (UNAVAILABLE, UNAUTHENTICATED,
INVALID_ARGUMENT with google.rpc details), for the sync and the aio client alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import kaskada as kda
from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
from tests.helpers import table_service

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
    with table_service(servicer) as endpoint:
        yield servicer, endpoint


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


