"""``kaskada.table`` as coroutines: the same signatures, results and errors.

Each function takes ``session=``; without it the call runs as the task's
``async with``/``with`` session, the global ``kda.init()``, or the default
(resolved in a thread the first time, so the loop never waits on the keyring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import Message

from kaskada.aio._session import current
from kaskada.api.v1alpha.table_pb2 import (
    CreateTableRequest,
    CreateTableResponse,
    DeleteTableRequest,
    DeleteTableResponse,
    GetTableRequest,
    GetTableResponse,
    ListTablesRequest,
    ListTablesResponse,
    Table,
)
from kaskada.table import _SERVICE, Response, _new_table, _Pages
from kaskada.transport import aio as _aio_transport

if TYPE_CHECKING:
    from kaskada._session import Session

__all__ = ["Table", "create_table", "delete_table", "get_table", "list_tables"]


async def _call(
    method: str,
    request: Message,
    response_type: type[Response],
    session: Session | None,
    *,
    read: bool,
) -> Response:
    """One TableService call, awaited; the response is ``response_type`` (decoded by it)."""
    resolved = await current(session)
    response: Response = await _aio_transport.call(
        resolved, _SERVICE + method, request, response_type, read=read
    )
    return response


async def list_tables(
    search: str | None = None, *, page_size: int = 0, session: Session | None = None
) -> dict[str, Table]:
    """Every table (matching ``search``) by name, following page tokens.

    Args:
        search: only tables whose name contains this (the server's rule); all when None.
        page_size: tables per page asked of the server (0: the server's default).
        session: the session to call as; without it, the task's session, then
            ``kda.init()``'s, then the default.

    Returns:
        The tables by name; ``{}`` when there are none.

    Raises:
        KaskadaError: as ``kaskada.table.list_tables``.
    """
    resolved = await current(session)
    pages = _Pages(search, page_size, resolved.endpoint)
    request: ListTablesRequest | None = pages.first()
    while request is not None:
        response = await _call("ListTables", request, ListTablesResponse, resolved, read=True)
        request = pages.after(response)
    return pages.tables


async def get_table(name: str, *, session: Session | None = None) -> Table:
    """The named table.

    Args:
        name: the table's name.
        session: the session to call as; without it, the task's session, then
            ``kda.init()``'s, then the default.

    Returns:
        The table message.

    Raises:
        NotFoundError: this account has no table of that name.
        KaskadaError: another subclass for other failures, as ``kaskada.table.get_table``.
    """
    response = await _call(
        "GetTable", GetTableRequest(table_name=name), GetTableResponse, session, read=True
    )
    return response.table


async def create_table(
    table_name: str,
    time_column_name: str,
    entity_key_column_name: str,
    subsort_column_name: str | None = None,
    grouping_id: str | None = None,
    *,
    session: Session | None = None,
) -> Table:
    """Create a table (never retried: a write).

    Args:
        table_name: the new table's name.
        time_column_name: the column holding each row's time.
        entity_key_column_name: the column holding each row's entity key.
        subsort_column_name: the column ordering rows of equal time; None for none.
        grouping_id: the entity grouping the table belongs to; None for none.
        session: the session to call as; without it, the task's session, then
            ``kda.init()``'s, then the default.

    Returns:
        The table as the server created it.

    Raises:
        AlreadyExistsError: the name is taken.
        KaskadaError: another subclass for other failures, as ``kaskada.table.create_table``.
    """
    table = _new_table(
        table_name, time_column_name, entity_key_column_name, subsort_column_name, grouping_id
    )
    response = await _call(
        "CreateTable", CreateTableRequest(table=table), CreateTableResponse, session, read=False
    )
    return response.table


async def delete_table(name: str, force: bool = False, *, session: Session | None = None) -> None:
    """Delete the named table (never retried: a write).

    Args:
        name: the table's name.
        force: sent as the request's ``force`` field (the server decides what it allows).
        session: the session to call as; without it, the task's session, then
            ``kda.init()``'s, then the default.

    Raises:
        NotFoundError: this account has no table of that name.
        KaskadaError: another subclass for other failures, as ``kaskada.table.delete_table``.
    """
    await _call(
        "DeleteTable",
        DeleteTableRequest(table_name=name, force=force),
        DeleteTableResponse,
        session,
        read=False,
    )
