"""``kaskada.table`` as coroutines: the same signatures, results and errors.

Each function takes ``session=``; without it the call runs as the task's
``async with``/``with`` session, the global ``kda.init()``, or the default
(resolved in a thread the first time, so the loop never waits on the keyring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaskada import _aio_transport
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
from kaskada.table import _SERVICE, _new_table, _Pages

if TYPE_CHECKING:
    from kaskada._session import Session

__all__ = ["Table", "create_table", "delete_table", "get_table", "list_tables"]


async def _call(
    method: str, request: object, response_type: object, session: Session | None, *, read: bool
) -> object:
    resolved = await current(session)
    return await _aio_transport.call(
        resolved, _SERVICE + method, request, response_type, read=read
    )


async def list_tables(
    search: str | None = None, *, page_size: int = 0, session: Session | None = None
) -> dict[str, Table]:
    """Every table (matching ``search``) by name, following page tokens; ``{}`` when none."""
    pages = _Pages(search, page_size)
    request: ListTablesRequest | None = pages.first()
    while request is not None:
        response = await _call("ListTables", request, ListTablesResponse, session, read=True)
        request = pages.after(response)
    return pages.tables


async def get_table(name: str, *, session: Session | None = None) -> Table:
    """The named table; NotFoundError when this account has none of that name."""
    response = await _call(
        "GetTable", GetTableRequest(table_name=name), GetTableResponse, session, read=True
    )
    assert isinstance(response, GetTableResponse)
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
    """Create a table (never retried: a write); AlreadyExistsError for a taken name."""
    table = _new_table(
        table_name, time_column_name, entity_key_column_name, subsort_column_name, grouping_id
    )
    response = await _call(
        "CreateTable", CreateTableRequest(table=table), CreateTableResponse, session, read=False
    )
    assert isinstance(response, CreateTableResponse)
    return response.table


async def delete_table(name: str, force: bool = False, *, session: Session | None = None) -> None:
    """Delete the named table (never retried: a write)."""
    await _call(
        "DeleteTable",
        DeleteTableRequest(table_name=name, force=force),
        DeleteTableResponse,
        session,
        read=False,
    )
