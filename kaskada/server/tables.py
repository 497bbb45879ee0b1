"""TableService: the four table calls, each confined to the caller's account.

Errors travel as gRPC status codes with a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer (grpcio-status builds it); a bad
CreateTable carries ``google.rpc.BadRequest`` field violations.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import unicodedata
import uuid
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from kaskada.api.v1alpha import table_pb2, table_pb2_grpc
from kaskada.server.auth import current_account
from kaskada.server.store import QuotaExceeded, StorageFull, Store, TableExists, TableRow

log: logging.Logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_NAME_LENGTH = 256
MAX_GROUPING_ID_LENGTH = 256
MAX_SEARCH_LENGTH = 256
MAX_PAGE_TOKEN_LENGTH = 2048
MAX_RESPONSE_BYTES = 1 << 20
"""A ListTables page ends early (with a next_page_token) once its text passes this."""
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
"""Control, format (bidirectional overrides, zero-width), surrogate, private-use and
unassigned code points, and line/paragraph separators: none belongs in a name."""
FULL = (
    "the server's storage is full: try again later (the operator must free disk space "
    "or raise --max-db-mb)"
)


def _abort(
    context: grpc.ServicerContext, code: grpc.StatusCode, message: str, *details: Any
) -> NoReturn:
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


def _details() -> table_pb2.RequestDetails:
    """Each response's request id: fresh per call, for a user to quote to the operator."""
    return table_pb2.RequestDetails(request_id=uuid.uuid4().hex)


def _table_message(row: TableRow) -> table_pb2.Table:
    table = table_pb2.Table(
        table_id=row.table_id,
        table_name=row.table_name,
        time_column_name=row.time_column_name,
        entity_key_column_name=row.entity_key_column_name,
        grouping_id=row.grouping_id,
        version=row.version,
        file_count=0,
    )
    table.create_time.FromNanoseconds(row.create_time_ns)
    table.update_time.FromNanoseconds(row.update_time_ns)
    if row.subsort_column_name is not None:
        table.subsort_column_name.value = row.subsort_column_name
    return table


def text_problem(value: str, limit: int, *, required: bool = True) -> str | None:
    """Why ``value`` is no fit name (length, printable, no control or bidi characters)."""
    if not value:
        return "is required" if required else None
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        return "has control, format or bidirectional-override characters"
    if value != value.strip():
        return "has leading or trailing spaces"
    return None


def _column_problem(value: str) -> str | None:
    return text_problem(value, MAX_NAME_LENGTH)


def table_violations(table: table_pb2.Table) -> list[tuple[str, str]]:
    """(field, description) for every problem of a CreateTable request's table."""
    problems: list[tuple[str, str]] = []
    name = table.table_name
    if not name:
        problems.append(("table.table_name", "table_name is required"))
    elif len(name) > MAX_NAME_LENGTH or not _TABLE_NAME.fullmatch(name):
        problems.append(
            (
                "table.table_name",
                f"table_name {name[:80]!r} must be letters, digits and '_', not starting "
                f"with a digit, at most {MAX_NAME_LENGTH} characters",
            )
        )
    for field in ("time_column_name", "entity_key_column_name"):
        problem = _column_problem(getattr(table, field))
        if problem:
            problems.append((f"table.{field}", f"{field} {problem}"))
    if table.HasField("subsort_column_name"):
        problem = _column_problem(table.subsort_column_name.value)
        if problem:
            problems.append(
                ("table.subsort_column_name", f"subsort_column_name {problem} when set")
            )
    problem = text_problem(table.grouping_id, MAX_GROUPING_ID_LENGTH, required=False)
    if problem:
        problems.append(("table.grouping_id", f"grouping_id {problem}"))
    return problems


def encode_page_token(after: str, search: str) -> str:
    raw = json.dumps({"a": after, "s": search}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, search: str) -> str | None:
    """The last name of the previous page, or None when the token is not ours."""
    if len(token) > MAX_PAGE_TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("s") != search:
        return None
    after = value.get("a")
    return after if isinstance(after, str) else None


class TableServicer(table_pb2_grpc.TableServiceServicer):
    """Tables per account; ``default_account`` serves calls when auth is switched off."""

    def __init__(self, store: Store, *, default_account: str | None = None) -> None:
        self._store = store
        self._default_account = default_account

    def _account(self) -> str:
        account = current_account.get(self._default_account)
        if account is None:  # pragma: no cover - the interceptor always sets it
            raise RuntimeError("TableService called without an authenticated account")
        return account

    def ListTables(
        self, request: table_pb2.ListTablesRequest, context: grpc.ServicerContext
    ) -> table_pb2.ListTablesResponse:
        account = self._account()
        if request.page_size < 0:
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"page_size {request.page_size} is negative: give 0 (the default, "
                f"{DEFAULT_PAGE_SIZE}) up to {MAX_PAGE_SIZE}",
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="page_size", description="must not be negative"
                        )
                    ]
                ),
            )
        problem = text_problem(request.search, MAX_SEARCH_LENGTH, required=False)
        if problem:
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"search {problem}",
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="search", description=problem
                        )
                    ]
                ),
            )
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = None
        if request.page_token:
            after = decode_page_token(request.page_token, request.search)
            if after is None:
                _abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "page_token is not one this server issued for this search: "
                    "start again without page_token",
                    error_details_pb2.BadRequest(
                        field_violations=[
                            error_details_pb2.BadRequest.FieldViolation(
                                field="page_token", description="unknown or for another search"
                            )
                        ]
                    ),
                )
        rows, more = self._store.list_tables(
            account, search=request.search, after=after, limit=size,
            max_bytes=MAX_RESPONSE_BYTES,
        )
        response = table_pb2.ListTablesResponse(
            tables=[_table_message(row) for row in rows],
            request_details=_details(),
        )
        if more and rows:
            response.next_page_token = encode_page_token(rows[-1].table_name, request.search)
        return response

    def GetTable(
        self, request: table_pb2.GetTableRequest, context: grpc.ServicerContext
    ) -> table_pb2.GetTableResponse:
        row = self._store.get_table(self._account(), request.table_name)
        if row is None:
            self._not_found(context, request.table_name)
        return table_pb2.GetTableResponse(
            table=_table_message(row),
            request_details=_details(),
        )

    def CreateTable(
        self, request: table_pb2.CreateTableRequest, context: grpc.ServicerContext
    ) -> table_pb2.CreateTableResponse:
        account = self._account()
        table = request.table
        problems = table_violations(table)
        if problems:
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid table: " + "; ".join(description for _, description in problems),
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                        for f, d in problems
                    ]
                ),
            )
        subsort = (
            table.subsort_column_name.value if table.HasField("subsort_column_name") else None
        )
        try:
            row = self._store.create_table(
                account,
                table_name=table.table_name,
                time_column_name=table.time_column_name,
                entity_key_column_name=table.entity_key_column_name,
                subsort_column_name=subsort,
                grouping_id=table.grouping_id,
            )
        except QuotaExceeded as quota:
            _abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                str(quota),
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(
                            subject="account", description="tables per account"
                        )
                    ]
                ),
            )
        except StorageFull:
            log.warning("CreateTable refused: the database or disk is full")
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, FULL)
        except TableExists:
            _abort(
                context,
                grpc.StatusCode.ALREADY_EXISTS,
                f"table {table.table_name!r} already exists in this account: "
                "choose another name or delete the existing table first",
                error_details_pb2.ResourceInfo(
                    resource_type="table", resource_name=table.table_name
                ),
            )
        log.debug("created table %r", row.table_name)
        return table_pb2.CreateTableResponse(
            table=_table_message(row),
            request_details=_details(),
        )

    def DeleteTable(
        self, request: table_pb2.DeleteTableRequest, context: grpc.ServicerContext
    ) -> table_pb2.DeleteTableResponse:
        try:
            deleted = self._store.delete_table(self._account(), request.table_name)
        except StorageFull:
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, FULL)
        if not deleted:
            self._not_found(context, request.table_name)
        log.debug("deleted table %r", request.table_name)
        return table_pb2.DeleteTableResponse(
            data_token_id=uuid.uuid4().hex,
            request_details=_details(),
        )

    @staticmethod
    def _not_found(context: grpc.ServicerContext, name: str) -> NoReturn:
        _abort(
            context,
            grpc.StatusCode.NOT_FOUND,
            f"table {name!r} not found in this account: check the name with ListTables",
            error_details_pb2.ResourceInfo(resource_type="table", resource_name=name),
        )
